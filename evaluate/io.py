"""Writing results: tiled, compressed GeoTIFF written block by block from dask, atomically.

Each output is written to a hidden ``.partial`` file in the output folder and
renamed into place only after every output of the run has been computed and
closed, so a killed run never leaves a complete-looking raster behind. Class
rasters carry an embedded colour table, class names in the band metadata, a
GDAL ``.aux.xml`` with category names and a QGIS ``.qml`` paletted style.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping
from xml.sax.saxutils import quoteattr

import dask
import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from rasterio.windows import Window

from evaluate.grid import Grid
from evaluate.modelspec import OutputDecl

log = logging.getLogger("dualeval")

PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".partial"
# a raster partial that a later run of the same output (same content key) may resume, block by block
RESUME_MARK = ".resume"
# what an output is a function of, hashed (inputs, parameters, code): set by the runner, read for reuse and resume
CONTENT_KEY_TAG = "DUALEVAL_CONTENT_KEY"


class OutputError(ValueError):
    """An output that would overwrite an input, or cannot be written."""


@dataclass
class RasterOutput:
    """One raster to write: the lazy array, its declaration and metadata tags."""

    name: str
    array: xr.DataArray
    decl: OutputDecl
    tags: dict = field(default_factory=dict)


@dataclass
class TableOutput:
    """One table to write as CSV (e.g. per admin unit): a DataFrame, or a dask Delayed computing to one."""

    name: str
    table: object
    decl: OutputDecl
    tags: dict = field(default_factory=dict)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename."""
    path = Path(path)
    tmp = path.with_name(f"{PARTIAL_PREFIX}{path.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


LOCK_NAME = ".dualeval.lock"


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.dualeval.lock`` for one run; refuse a folder another live run holds.

    The lock file holds the owner's pid. A lock left by a process that no
    longer exists (killed, crashed) is taken over, and that run's hidden
    partial files are removed: once the lock is ours, no live run writes
    them, so nothing half-written survives the next run.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _alive(owner):
                raise OutputError(f"outputs.folder: another dualeval run (pid {owner}) is writing into {folder}; wait for it or choose another folder") from None
            lock.unlink(missing_ok=True)  # stale: its owner is gone
    else:
        raise OutputError(f"outputs.folder: cannot take the lock {lock}")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        for stale in folder.glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}*"):
            if f"{RESUME_MARK}{PARTIAL_SUFFIX}" in stale.name:
                continue  # resumable blocks: :func:`write_rasters` resumes them or removes them
            if stale.is_dir():
                import shutil

                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def refuse_input_paths(targets: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Raise :class:`OutputError` if any output path is one of the inputs (inputs are never modified)."""
    protected = {Path(p).resolve() for p in inputs}
    for target in targets:
        if Path(target).resolve() in protected:
            raise OutputError(f"output {target} is also an input of this run; choose another outputs.folder")


def _profile(grid: Grid, decl: OutputDecl, compress: str, tile: int, level: int | None = None) -> dict:
    dtype = np.dtype(decl.dtype)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": decl.nodata,
        "tiled": True,
        "blockxsize": tile,
        "blockysize": tile,
        "BIGTIFF": "IF_SAFER",
        "interleave": "band",
        # GDAL compresses the tiles of a written window on its own worker threads: without it, one
        # output's compression (a float layer takes ~70 % of a slope + grade run) serialises the run
        "NUM_THREADS": "ALL_CPUS",
    }
    if compress != "none":
        profile["compress"] = compress
        profile["predictor"] = 3 if dtype.kind == "f" else 2
    if level is not None:
        profile["zstd_level" if compress == "zstd" else "zlevel"] = level
    return profile


class _WindowWriter:
    """A ``da.store`` target that writes each block into an open dataset's window.

    Each output has its own lock (a GDAL dataset handle is not thread-safe,
    but different handles are), so the blocks of several outputs are written
    at once, and ``seconds`` adds up the time spent writing, for the share of
    the run's wall time that writing takes.

    With a ``journal``, the writer checkpoints every ``checkpoint_s`` seconds:
    it closes the dataset (GDAL writes the tile index, so the file is a valid
    GeoTIFF holding every block written so far), reopens it for update, and
    appends those blocks' windows and CRC-32s to the journal (fsync'd). A run
    killed at any moment leaves a file and a journal from which
    :func:`_resume` recovers every checkpointed block and verifies it.
    """

    def __init__(self, dataset, journal: Path | None = None, checkpoint_s: float = 0.0):
        self.dataset = dataset
        self.lock = threading.Lock()
        self.seconds = 0.0
        self.journal, self.checkpoint_s = journal, checkpoint_s
        self.pending: list[str] = []
        self.last_checkpoint = time.monotonic()

    def __setitem__(self, key, value):
        rows, cols = key
        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        block = np.ascontiguousarray(value, dtype=self.dataset.dtypes[0])
        with self.lock:
            if self.dataset.closed:  # a task still running after the run failed: its output is being discarded
                raise OutputError("output closed after the run failed")
            start = time.perf_counter()
            try:
                self.dataset.write(block, 1, window=window)
                if self.journal is not None:
                    self.pending.append(f"{rows.start} {rows.stop} {cols.start} {cols.stop} {zlib.crc32(block.tobytes())}\n")
                    if time.monotonic() - self.last_checkpoint >= self.checkpoint_s:
                        self._checkpoint(reopen=True)
            except (rasterio.errors.RasterioIOError, OSError) as exc:
                raise OutputError(_write_failure(self.dataset.name, exc)) from None
            self.seconds += time.perf_counter() - start

    def _checkpoint(self, reopen: bool) -> None:
        """Flush the file (close), then journal the blocks it now holds; called under the lock."""
        path = self.dataset.name
        self.dataset.close()
        _fsync(path)
        if reopen:
            self.dataset = rasterio.open(path, "r+", NUM_THREADS="ALL_CPUS")
        if self.pending:
            with open(self.journal, "a", encoding="ascii") as f:
                f.writelines(self.pending)
                f.flush()
                os.fsync(f.fileno())
            self.pending = []
        self.last_checkpoint = time.monotonic()

    def close(self, keep_for_resume: bool = False) -> None:
        """Close the dataset once no block is being written into it.

        When one task fails, dask raises in the caller while other threads
        may still be writing blocks: closing under the same lock waits for
        the write in flight (closing a GDAL handle under a writing thread
        crashes the process) and makes any later write fail harmlessly.
        ``keep_for_resume`` (an interrupted run) journals the blocks written
        since the last checkpoint, so a re-run need not compute them again.
        """
        with self.lock:
            if not self.dataset.closed:
                try:
                    if keep_for_resume and self.journal is not None:
                        self._checkpoint(reopen=False)
                    else:
                        self.dataset.close()  # flushes the last tiles
                except (rasterio.errors.RasterioIOError, OSError) as exc:
                    raise OutputError(_write_failure(self.dataset.name, exc)) from None


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _journal_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".blocks")


def _resume(partial: Path, key: str, shape: tuple[int, int]):
    """Reopen a resumable partial raster and return ``(dataset, done)``, or ``(None, set())`` if it cannot be trusted.

    ``done`` holds the windows ``(row0, row1, col0, col1)`` the journal lists
    whose pixels read back with the journalled CRC-32: a block torn by a
    crash, or written after the last checkpoint, is simply computed again.
    """
    journal = _journal_path(partial)
    try:
        lines = journal.read_text(encoding="ascii").splitlines()
        header = json.loads(lines[0])
        if header != {"key": key, "shape": list(shape)}:
            return None, set()
        dataset = rasterio.open(partial, "r+", NUM_THREADS="ALL_CPUS")
    except (OSError, ValueError, IndexError, rasterio.errors.RasterioError):
        return None, set()
    done = set()
    try:
        for line in lines[1:]:
            r0, r1, c0, c1, crc = (int(v) for v in line.split())
            block = dataset.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
            if zlib.crc32(np.ascontiguousarray(block).tobytes()) == crc:
                done.add((r0, r1, c0, c1))
    except (ValueError, rasterio.errors.RasterioError):
        pass  # a torn journal line or tile: the blocks verified so far stand
    return dataset, done


def _check_not_truncated(path: Path) -> None:
    """Refuse a written file that a full disk or a file-size limit has cut short.

    GDAL compresses and appends tiles on its own threads (``NUM_THREADS``),
    where a failed write is only logged, not raised: a file that stopped at
    the process's file-size limit (``ulimit -f``), or a disk left without
    free space, means tiles are missing, and GDAL would read them back as
    nodata without a word.
    """
    import resource

    size = path.stat().st_size
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size >= limit - 2**16:
        raise OutputError(_write_failure(str(path), OSError(f"the file reached the size limit of {limit / 2**20:.0f} MiB")))
    disk = os.statvfs(path)
    if disk.f_bavail * disk.f_frsize < 2**20:
        raise OutputError(_write_failure(str(path), OSError("no free space left on the device")))


def _write_failure(path: str, exc: Exception) -> str:
    return f"cannot write {path}: {str(exc)[:200]}; is the disk full, or a file-size limit (ulimit -f) reached? Nothing was committed"


def _colormap(decl: OutputDecl) -> dict[int, tuple[int, int, int, int]]:
    cmap = {c.code: (*c.colour, 255) for c in decl.classes}
    if decl.nodata is not None and int(decl.nodata) not in cmap:
        cmap[int(decl.nodata)] = (0, 0, 0, 0)
    return cmap


def qml_style(decl: OutputDecl) -> str:
    """A QGIS paletted-renderer style with the class colours and bilingual labels."""
    entries = "\n".join(
        f'        <paletteEntry value="{c.code}" color="#{c.colour[0]:02x}{c.colour[1]:02x}{c.colour[2]:02x}" alpha="255" '
        f"label={quoteattr(f'{c.code} {c.zh} {c.en}')}/>"
        for c in decl.classes
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28" styleCategories="Symbology">\n  <pipe>\n'
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n      <colorPalette>\n"
        f"{entries}\n      </colorPalette>\n    </rasterrenderer>\n  </pipe>\n</qgis>\n"
    )


def _aux_xml(decl: OutputDecl) -> str:
    """GDAL PAM sidecar with category names (GeoTIFF cannot store them itself)."""
    top = max(c.code for c in decl.classes)
    names = {c.code: f"{c.zh} {c.en}" for c in decl.classes}
    cats = "\n".join(f"      <Category>{_xml_text(names.get(i, ''))}</Category>" for i in range(top + 1))
    return f'<PAMDataset>\n  <PAMRasterBand band="1">\n    <CategoryNames>\n{cats}\n    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n'


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


VECTOR_SUFFIX = {"gpkg": ".gpkg", "shp": "_shp", "filegdb": ".gdb"}
VECTOR_DRIVER = {"gpkg": "GPKG", "shp": "ESRI Shapefile", "filegdb": "OpenFileGDB"}


@dataclass(frozen=True)
class VectorOptions:
    """How vector outputs are written: formats, output CRS (``auto`` = the GK zone of the grid centre) and Shapefile encoding."""

    formats: tuple[str, ...] = ("gpkg",)
    crs: str = "auto"
    shp_encoding: str = "UTF-8"
    run_id: str = ""
    engine_version: str = ""


def vector_crs(option: str, grid: Grid) -> str:
    """The output CRS of vectors: EPSG:4490, a given GK zone, or (``auto``) the CGCS2000 3° GK zone of the grid centre's longitude."""
    if option != "auto":
        return option
    import pyproj

    from evaluate.ops.vector import gk_zone_epsg

    left, bottom, right, top = grid.bounds
    lon, _ = pyproj.Transformer.from_crs(grid.crs, "EPSG:4490", always_xy=True).transform((left + right) / 2, (bottom + top) / 2)
    return f"EPSG:{gk_zone_epsg(lon)}"


def write_vector(frame, path: Path, fmt: str, grid: Grid, options: VectorOptions) -> None:
    """Write a frame of polygons (columns ``layer``, ``geometry`` in the grid's CRS, attribute columns) as one layer per ``layer``.

    GeoPackage and FileGDB hold every layer in one file (folder); Shapefile
    writes ``<layer>.shp`` with its ``.cpg`` (UTF-8 or GBK) into a folder,
    field names cut to 10 characters (the zone schemas already fit). Geometries
    are taken to the output CRS (zones_and_standards.md §3.1); ``TYMJ`` is the
    planar area there when it is projected (QA only; ``MJ`` stays ellipsoidal),
    ``RUNID`` and ``ENGVER`` name the run and the engine.
    """
    import pyogrio.raw
    import pyproj
    import shapely

    target = vector_crs(options.crs, grid)
    transformer = pyproj.Transformer.from_crs(grid.crs, target, always_xy=True)
    if fmt in ("shp", "filegdb"):
        path.mkdir(parents=True, exist_ok=True) if fmt == "shp" else None
    layers = list(dict.fromkeys(frame["layer"])) if len(frame) else []
    for i, layer in enumerate(layers):
        rows = frame[frame["layer"] == layer]
        geometry = shapely.transform(rows["geometry"].to_numpy(), lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
        fields = {c: rows[c].to_numpy() for c in rows.columns if c not in ("layer", "geometry")}
        if pyproj.CRS(target).is_projected and "MJ" in fields:
            fields["TYMJ"] = np.round(shapely.area(geometry), 2)
        fields["RUNID"] = np.full(len(rows), options.run_id, dtype=object)
        fields["ENGVER"] = np.full(len(rows), options.engine_version, dtype=object)
        names = [n[:10] for n in fields] if fmt == "shp" else list(fields)
        data = [v.astype(object) if v.dtype.kind in "OUS" else v for v in fields.values()]
        where = path / f"{layer}.shp" if fmt == "shp" else path
        kwargs = {"encoding": options.shp_encoding} if fmt == "shp" else {"layer": layer}
        kind = {1: "LineString", 3: "Polygon"}.get(int(shapely.get_type_id(geometry[0])), "Unknown") if len(geometry) else "Polygon"
        pyogrio.raw.write(str(where), shapely.to_wkb(geometry), data, fields=names, crs=target, driver=VECTOR_DRIVER[fmt],
                          geometry_type=kind, **kwargs)
    if not layers and fmt == "gpkg":
        pyogrio.raw.write(str(path), np.array([], dtype=object), [], fields=[], crs=target, driver="GPKG", layer="empty", geometry_type="Polygon")


def _replace(partial: Path, final: Path) -> None:
    """Rename a finished output into place; a folder (Shapefile set, FileGDB) replaces the previous one."""
    if partial.is_dir():
        if final.exists():
            old = final.with_name(f"{PARTIAL_PREFIX}{final.name}.old.{uuid.uuid4().hex[:8]}")
            os.replace(final, old)
            os.replace(partial, final)
            import shutil

            shutil.rmtree(old, ignore_errors=True)
            return
    os.replace(partial, final)


def write_rasters(
    outputs: Mapping[str, RasterOutput],
    folder: Path,
    grid: Grid,
    *,
    compress: str = "deflate",
    compress_level: int | None = None,
    tile_size: int = 512,
    client=None,
    progress: Callable[[int, int], None] | None = None,
    stats: dict | None = None,
    before_commit: Callable[[], None] | None = None,
    tables: Mapping[str, TableOutput] | None = None,
    vector_options: VectorOptions | None = None,
    checkpoint_s: float = 0.0,
    resume: bool = True,
) -> dict[str, Path]:
    """Compute and write every output in one dask pass; return name → final path.

    Parameters
    ----------
    outputs : mapping of name → RasterOutput
        Lazy arrays on ``grid``.
    folder : Path
        Output folder (created if needed).
    client : dask.distributed.Client, optional
        With a client, blocks are computed on the cluster and written here as
        they arrive, in bounded batches; otherwise ``dask.array.store`` writes
        from the local scheduler's threads, each output under its own lock.
    progress : callable(done, total), optional
        Called as blocks are written.
    stats : dict, optional
        Filled with ``write_s`` (name → seconds spent in GDAL writes, which
        includes tile compression) and ``wall_s`` of the compute-and-write pass.
    before_commit : callable, optional
        Called once every output is complete, before any is renamed into
        place; an exception it raises discards them all (e.g. an input that
        changed during the run).
    tables : mapping of name → TableOutput, optional
        Tables computed in the same pass as the rasters (their graph shares
        the rasters' intermediates) and written as ``<name>.csv`` (UTF-8 with
        BOM, so Excel shows the Chinese names), committed with the rasters;
        a vector output (``decl.kind == "vector"``) is written in every
        format of ``vector_options`` (``<name>.gpkg``, ``<name>_shp/``,
        ``<name>.gdb``), keyed ``<name>`` for the first and
        ``<name>.<format>`` for the others.
    checkpoint_s : float
        Above 0, a raster output that carries a content key
        (:data:`CONTENT_KEY_TAG`) is written into a resumable partial file
        checkpointed at this interval (see :class:`_WindowWriter`); an
        interrupted run (Ctrl-C, SIGTERM, SIGKILL, a crash) leaves it hidden
        in the folder, and the next run with the same key writes only the
        blocks it lacks. The blocks are the same bits either way.
    resume : bool
        ``False`` (``--force``) discards resumable partial files instead.
    """
    vector_options = vector_options or VectorOptions()
    tables = dict(tables or {})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    finals = {name: folder / f"{name}.tif" for name in outputs} | {name: folder / f"{name}.csv" for name, t in tables.items() if t.decl.kind != "vector"}
    vector_keys = {}
    for name, t in tables.items():
        if t.decl.kind == "vector":
            for k, fmt in enumerate(vector_options.formats):
                key = name if k == 0 else f"{name}.{fmt}"
                finals[key] = folder / f"{name}{VECTOR_SUFFIX[fmt]}"
                vector_keys[key] = (name, fmt)
    # a vector partial keeps its format's suffix (GDAL's FileGDB driver needs .gdb)
    partials = {name: folder / (f"{PARTIAL_PREFIX}{final.stem}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}{final.suffix}" if name in vector_keys
                                else f"{PARTIAL_PREFIX}{final.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}") for name, final in finals.items()}
    keys = {name: out.tags.get(CONTENT_KEY_TAG) for name, out in outputs.items()}
    resumable = {name for name in outputs if keys[name] and checkpoint_s > 0}
    for name in resumable:  # named by the content key: a re-run of the same output finds it
        partials[name] = folder / f"{PARTIAL_PREFIX}{name}.tif.{keys[name][:16]}{RESUME_MARK}{PARTIAL_SUFFIX}"
    wanted = {p for n in resumable for p in (partials[n], _journal_path(partials[n]))} if resume else set()
    for stale in folder.glob(f"{PARTIAL_PREFIX}*{RESUME_MARK}{PARTIAL_SUFFIX}*"):
        if stale not in wanted:  # another key (changed inputs, parameters or code), or --force
            stale.unlink(missing_ok=True)
    datasets, writers, done = {}, {}, {}
    interrupted = False
    try:
        for name, out in outputs.items():
            if out.array.shape != grid.shape:
                raise OutputError(f"output {name} has shape {out.array.shape}, not the grid's {grid.shape}")
            ds, done[name] = (None, set())
            if name in resumable and partials[name].exists():
                ds, done[name] = _resume(partials[name], keys[name], grid.shape)
                if ds is not None:
                    datasets[name] = ds
                    continue
                partials[name].unlink(missing_ok=True)
            ds = rasterio.open(partials[name], "w", **_profile(grid, out.decl, compress, tile_size, compress_level))
            datasets[name] = ds
            if name in resumable:
                atomic_write_text(_journal_path(partials[name]), json.dumps({"key": keys[name], "shape": list(grid.shape)}) + "\n")
            if out.decl.is_class:
                ds.write_colormap(1, _colormap(out.decl))
                ds.update_tags(1, **{f"CLASS_{c.code}": f"{c.zh} {c.en}" for c in out.decl.classes})
            ds.set_band_description(1, out.decl.description)
            if out.decl.units:
                ds.set_band_unit(1, out.decl.units)
            ds.update_tags(**{k: (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in out.tags.items()})
        arrays = [outputs[n].array.data if isinstance(outputs[n].array.data, da.Array) else da.from_array(outputs[n].array.data, chunks=-1) for n in outputs]
        arrays = [a.astype(outputs[n].decl.dtype) for a, n in zip(arrays, outputs)]
        writers = {n: _WindowWriter(datasets[n], _journal_path(partials[n]) if n in resumable else None, checkpoint_s) for n in outputs}
        resumed = {n: len(d) for n, d in done.items() if d}
        if resumed:
            log.info("resuming %d output(s) of an interrupted run: %s blocks already written", len(resumed), ", ".join(f"{n} {k}" for n, k in resumed.items()))
        start = time.perf_counter()
        skip = [done[n] for n in outputs]
        if client is None:
            frames = _store_local(arrays, list(writers.values()), progress, [t.table for t in tables.values()], skip)
        else:
            frames = _store_distributed(arrays, list(writers.values()), client, progress, [t.table for t in tables.values()], skip)
        for name, frame in zip(tables, frames):
            if tables[name].decl.kind == "vector":
                for key, (vname, fmt) in vector_keys.items():
                    if vname == name:
                        write_vector(frame, partials[key], fmt, grid, vector_options)
            else:
                frame.to_csv(partials[name], index=False, encoding="utf-8-sig", float_format="%.6f")
        for writer in writers.values():
            writer.close()  # flushes the last tiles: part of writing
        wall = time.perf_counter() - start
        write_s = {n: round(w.seconds, 3) for n, w in writers.items()}
        log.info("compute and write: %.2f s; GDAL writes %.2f s in all (%s)", wall, sum(write_s.values()), ", ".join(f"{n} {s:.2f} s" for n, s in write_s.items()))
        if stats is not None:
            stats.update(write_s=write_s, wall_s=round(wall, 3), resumed_blocks=resumed)
        for name in finals:
            if partials[name].is_file():
                _check_not_truncated(partials[name])
        if before_commit is not None:
            before_commit()
        for name, out in outputs.items():
            if out.decl.is_class:
                atomic_write_text(folder / f"{name}.tif.aux.xml", _aux_xml(out.decl))
                atomic_write_text(folder / f"{name}.qml", qml_style(out.decl))
        for name in finals:
            _replace(partials[name], finals[name])
        for name in resumable:
            _journal_path(partials[name]).unlink(missing_ok=True)
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C or SIGTERM: keep the finished blocks for the next run
        raise
    finally:
        for name, ds in datasets.items():
            # closing a discarded output may fail too (a full disk): it must not stop the cleanup
            with contextlib.suppress(OutputError, rasterio.errors.RasterioIOError, OSError):
                if name in writers:
                    writers[name].close(keep_for_resume=interrupted)
                elif not ds.closed:
                    ds.close()
        for name, tmp in partials.items():
            if interrupted and name in resumable:
                continue
            _journal_path(tmp).unlink(missing_ok=True)
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()
    return finals


class _Counter(dask.callbacks.Callback):
    def __init__(self, total: int, progress: Callable[[int, int], None]):
        super().__init__()
        self.total, self.done, self.progress = total, 0, progress
        self._lock = threading.Lock()

    def _posttask(self, key, result, dsk, state, worker_id):
        if isinstance(key, tuple) and str(key[0]).startswith("store-"):
            with self._lock:
                self.done += 1
                self.progress(self.done, self.total)


def _blocks(array: da.Array, skip: set, optimize: bool = False) -> Iterator[tuple[tuple[slice, slice], object]]:
    """``(window, delayed block)`` for every block of ``array`` whose window ``(row0, row1, col0, col1)`` is not in ``skip``.

    Unoptimised by default: in one ``dask.compute`` with other outputs, fused
    tasks would get new keys and compute the intermediates they share twice.
    """
    offsets = [np.cumsum((0,) + c) for c in array.chunks]
    blocks = array.to_delayed(optimize_graph=optimize).ravel()
    for index, block in zip(np.ndindex(*array.numblocks), blocks):
        key = tuple(slice(int(offsets[d][i]), int(offsets[d][i + 1])) for d, i in enumerate(index))
        if (key[0].start, key[0].stop, key[1].start, key[1].stop) not in skip:
            yield key, block


def _put(writer: _WindowWriter, key: tuple[slice, slice], block: np.ndarray) -> None:
    writer[key] = block


def _store_local(arrays, writers, progress, tables=(), skip=None) -> list:
    """Store the rasters and compute the tables in one ``dask.compute`` (shared intermediates run once).

    A resumed output (windows in ``skip``) stores only its missing blocks;
    the tasks of its written blocks are culled from the graph.
    """
    skip = skip or [set()] * len(arrays)
    whole = [(a, w) for a, w, s in zip(arrays, writers, skip) if not s]
    # each writer locks its own dataset: a run-wide lock would serialise the outputs' writes
    store = da.store([a for a, _ in whole], [w for _, w in whole], lock=False, compute=False) if whole else None
    rest = [dask.delayed(_put)(w, key, block, dask_key_name=("store-resume", f"{n}-{key[0].start}-{key[1].start}"))
            for n, (a, w, s) in enumerate(zip(arrays, writers, skip)) if s for key, block in _blocks(a, s)]
    total = sum(a.npartitions for a, _ in whole) + len(rest)
    with _Counter(total, progress) if progress else contextlib.nullcontext():
        # unfused: a task shared by a raster and a table (e.g. the network solve) must stay one task, not be fused into both
        _, _, *frames = dask.compute(store, rest, *tables, optimize_graph=not tables and not rest)
    if progress:
        progress(total, total)
    return frames


def _store_distributed(arrays, writers, client, progress, tables=(), skip=None) -> list:
    from distributed import as_completed

    skip = skip or [set()] * len(arrays)
    table_futures = client.compute(list(tables)) if tables else []
    jobs = [(writer, key, block) for array, writer, s in zip(arrays, writers, skip) for key, block in _blocks(array, s, optimize=True)]
    total = len(jobs)
    batch = max(8, 4 * sum(w for w in client.nthreads().values()))
    done = 0
    for start in range(0, total, batch):
        chunk = jobs[start : start + batch]
        futures = client.compute([block for _, _, block in chunk])
        where = {f.key: (writer, key) for f, (writer, key, _) in zip(futures, chunk)}
        for future, value in as_completed(futures, with_results=True):
            writer, key = where[future.key]
            writer[key] = value
            done += 1
            if progress:
                progress(done, total)
        del futures
    return [f.result() for f in table_futures]
