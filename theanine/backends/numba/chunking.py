"""Sizes of the chunked linear-recurrence kernels (recurrence_kernels.py), apart from
them: the emitters (ops_fused_recurrence.py) write them into generated code, and
importing the kernels imports numba (~0.3 s), which a function's build and its first
calls, on NumPy, do without."""

K = 8           # chunks side by side (independent chains)
L = 512         # steps per chunk: a block of K*L steps stays in L2
PAR_LANES = 2   # widest recurrence run chunked lane by lane
CHUNK_MIN = 4 * K * L  # shortest recurrence worth chunking
