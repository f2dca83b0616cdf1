"""Speech libraries load only in the speech pool's children, never in the API process."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "adanalysis"
SPEECH_LIBRARIES = ("faster_whisper", "ctranslate2", "av", "numpy", "onnxruntime", "tokenizers")
# Imported only by name (WorkerSpec) in a child; its imports of these run there.
CHILD_ONLY = PACKAGE / "ads" / "speech.py"


def test_only_the_speech_worker_imports_speech_libraries() -> None:
    """Anywhere else, even inside a function, such an import would load BLAS in the server."""
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if path == CHILD_ONLY:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        if found := sorted(names & set(SPEECH_LIBRARIES)):
            offenders[str(path.relative_to(PACKAGE))] = found
    assert offenders == {}


def test_the_speech_worker_imports_them_only_inside_functions() -> None:
    """Importing the module for its constants (as the transcriber does) loads nothing heavy."""
    tree = ast.parse(CHILD_ONLY.read_text())
    top_level = [
        node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert not [m for m in top_level if m and m.split(".")[0] in SPEECH_LIBRARIES]
