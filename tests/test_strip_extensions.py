"""The project's ELF stripper (scripts/strip_extensions.py), on a library compiled here.

gcc builds a small shared library with debug information; the stripped copy
must load and work, keep every byte the loader maps, be as small as binutils'
`strip --strip-unneeded` makes it, and read cleanly in readelf. The Docker tier
runs the same script on real wheels (the default and real-world scenarios).
"""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import TEMPLATE

SCRIPT = TEMPLATE / "{{cookiecutter.project_slug}}" / "scripts" / "strip_extensions.py"
SOURCE = """
static const char table[] = "a table the debug information describes";
int answer(void) { return 42; }
const char *describe(void) { return table; }
"""

spec = importlib.util.spec_from_file_location("strip_extensions", SCRIPT)
strip_extensions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(strip_extensions)

needs_toolchain = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("gcc", "strip", "readelf")),
    reason="needs gcc and binutils (strip, readelf) on the host",
)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A shared library with debug information, in a folder of its own."""
    (tmp_path / "answer.c").write_text(SOURCE)
    folder = tmp_path / "venv"
    folder.mkdir()
    target = folder / "answer.cpython-312-x86_64-linux-gnu.so"
    subprocess.run(
        ["gcc", "-g", "-O1", "-shared", "-fPIC", "-o", str(target), str(tmp_path / "answer.c")],
        check=True,
    )
    return target


def section_names(path: Path) -> list[str]:
    listing = subprocess.run(
        ["readelf", "-SW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("]", 1)[1].split()[0] for line in listing.splitlines() if "]" in line[:8]]


def loaded_end(path: Path) -> int:
    """Where the last segment ends, from readelf's list of program headers."""
    listing = subprocess.run(
        ["readelf", "-lW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    ends = [
        int(fields[1], 16) + int(fields[4], 16)  # Offset + FileSiz
        for fields in (line.split() for line in listing.splitlines())
        if len(fields) >= 5 and fields[1].startswith("0x") and fields[0].isupper()
    ]
    return max(ends)


@needs_toolchain
def test_stripped_library_loads_keeps_loaded_bytes_and_matches_binutils(library, tmp_path):
    original = library.read_bytes()
    end = loaded_end(library)
    assert ".debug_info" in section_names(library) and ".symtab" in section_names(library)
    by_binutils = tmp_path / "binutils.so"
    shutil.copy(library, by_binutils)
    subprocess.run(["strip", "--strip-unneeded", str(by_binutils)], check=True)

    assert strip_extensions.main([str(library.parent)]) == 0
    stripped = library.read_bytes()

    names = section_names(library)
    assert not [name for name in names if name.startswith(".debug") or name == ".symtab"]
    assert ".text" in names and ".dynsym" in names
    readelf = subprocess.run(["readelf", "-aW", str(library)], capture_output=True, text=True)
    assert readelf.returncode == 0 and not readelf.stderr, readelf.stderr
    # Every byte the loader maps is unchanged, but for the fields that locate
    # the section headers (e_shoff, e_shnum, e_shstrndx).
    assert stripped[64:end] == original[64:end]
    assert stripped[:0x28] == original[:0x28] and stripped[0x30:0x3C] == original[0x30:0x3C]
    assert len(stripped) <= by_binutils.stat().st_size + 64
    loaded = ctypes.CDLL(str(library))
    loaded.describe.restype = ctypes.c_char_p
    assert loaded.answer() == 42
    assert loaded.describe() == b"a table the debug information describes"


@needs_toolchain
def test_check_lists_what_it_would_strip_and_a_second_run_changes_nothing(library, capsys):
    assert strip_extensions.main(["--check", str(library.parent)]) == 1
    assert library.name in capsys.readouterr().out
    strip_extensions.main([str(library.parent)])
    once = library.read_bytes()
    strip_extensions.main([str(library.parent)])
    assert library.read_bytes() == once
    capsys.readouterr()
    assert strip_extensions.main(["--check", str(library.parent)]) == 0
    assert capsys.readouterr().out.strip() == ""


@needs_toolchain
def test_other_files_are_left_as_they_are_with_a_note(library, capsys):
    folder = library.parent
    linker_script = folder / "libtext.so"
    linker_script.write_text("GROUP ( libc.so.6 )\n")
    other_class = folder / "lib32.so"
    other_class.write_bytes(library.read_bytes()[:4] + b"\x01" + library.read_bytes()[5:])
    truncated = folder / "truncated.so"
    truncated.write_bytes(library.read_bytes()[:200])
    before = {path: path.read_bytes() for path in (linker_script, other_class, truncated)}

    assert strip_extensions.main([str(folder)]) == 0

    out = capsys.readouterr().out
    assert all(path.read_bytes() == data for path, data in before.items())
    assert f"left as it is: {linker_script}: not a 64-bit little-endian ELF file" in out
    assert f"left as it is: {other_class}: not a 64-bit little-endian ELF file" in out
    assert f"left as it is: {truncated}: not a well-formed ELF file" in out


def test_a_missing_folder_is_an_error_with_a_fix(tmp_path, capsys):
    assert strip_extensions.main([str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("ERROR: not a folder:") and "Try:" in error


def swap_section_1_and_symtab(data: bytearray, shoff: int, size: int, symtab: int) -> None:
    one, other = shoff + size, shoff + symtab * size
    data[one : one + size], data[other : other + size] = (
        data[other : other + size],
        data[one : one + size],
    )


def link_section_1_to_symtab(data: bytearray, shoff: int, size: int, symtab: int) -> None:
    section = list(strip_extensions.SECTION_HEADER.unpack_from(data, shoff + size))
    section[strip_extensions.SH_LINK] = symtab
    strip_extensions.SECTION_HEADER.pack_into(data, shoff + size, *section)


@needs_toolchain
@pytest.mark.parametrize(
    ("edit", "note"),
    [
        (swap_section_1_and_symtab, "sections to drop come before sections to keep"),
        (link_section_1_to_symtab, "refers to a section to drop"),
    ],
)
def test_a_file_that_would_need_renumbering_is_left_alone(library, capsys, edit, note):
    """Linkers number the sections to drop last and link nothing to them; a
    file laid out otherwise is left as it is."""
    data = bytearray(library.read_bytes())
    shoff = strip_extensions.HEADER.unpack_from(data)[strip_extensions.E_SHOFF]
    edit(data, shoff, strip_extensions.SECTION_HEADER.size, section_names(library).index(".symtab"))
    library.write_bytes(data)

    strip_extensions.main([str(library.parent)])

    assert library.read_bytes() == data
    assert note in capsys.readouterr().out
