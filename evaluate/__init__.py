"""dualeval's engine: grid, layer stack, numba kernels, xarray/dask operators, I/O, config, runner and CLI."""
