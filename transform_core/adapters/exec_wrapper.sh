#!/bin/sh
# transform-core-runtime: the function's AWS_LAMBDA_EXEC_WRAPPER, shipped at the root of the transform-core layer
# (/opt/transform-core-runtime). Lambda runs it with the managed runtime's start command as its arguments: the
# interpreter's path, then the runtime's own. For transform-core's handler it starts the raw-bytes Runtime API loop
# with that interpreter instead (docs/runtime.md); any other handler gets the managed runtime, unchanged.
set -eu
if [ "${_HANDLER:-}" != "transform_core.adapters.firehose.handler" ]; then
    exec "$@"
fi
case "${1:-}" in
    */python*) python=$1 ;;              # the interpreter the managed runtime would have started
    *) python=/var/lang/bin/python3 ;;   # the managed Python runtime's own
esac
layer=$(dirname "$0")                    # the layer's folder (/opt): its Python packages are in python/
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:$layer/python${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m transform_core.adapters.runtime_api
