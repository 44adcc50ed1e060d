"""transform-core's benchmark suite: workloads, peers, measurements (see docs/benchmarks.md).

Kept empty of imports: ``benchmarks.child`` starts its clock before anything heavy is imported.
"""
