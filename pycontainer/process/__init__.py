"""The container's processes: stage 0 (the runtime), stage 1, and the init.

See ``launcher`` (stage 0), ``init`` (stages 1 and 2) and ``sync`` (the
protocol between them).
"""
