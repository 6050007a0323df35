"""Pure numba kernels over numpy blocks: no I/O, no xarray, no dask.

Each kernel serves both the eager path and every dask block; stencil kernels
receive a block padded by their halo and return the unpadded core.
"""
