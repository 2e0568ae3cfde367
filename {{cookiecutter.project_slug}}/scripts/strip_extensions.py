"""Build step: remove the debug information from compiled extensions, with Python alone.

Why: wheels often ship their extensions with debug information, most of their
size (uvloop: 16 MB, 2 MB without it). binutils' `strip` would remove it, but
the slim image has no binutils, and installing it costs every cold build an
`apt-get update` and a download, for one program.

How: the dynamic loader reads an ELF file through its program headers only:
the segments they describe are what it maps into memory. Debug sections, the
static symbol table (.symtab, .strtab) and comments are not in any segment;
linkers put them after the last one. This script keeps every byte up to the
end of the last segment, drops the sections after it, and writes a new table
of section names and a new section header table, so tools such as readelf and
gdb still find the sections that remain. The only bytes it changes in the part
the loader maps are the three ELF header fields that locate the section
headers, which the loader ignores. So it cannot break a library whose layout
patchelf has edited, as a tool that rewrites the layout can (binutils' strip on
some of the libraries wheels bundle in *.libs folders), and it strips those
too. What patchelf left between two segments stays: removing it would mean
moving the segments (real-world packages: about 2% more than binutils' strip).

    python scripts/strip_extensions.py DIR...          strip each *.so under DIR
    python scripts/strip_extensions.py --check DIR...  list each *.so the first
        form would still shrink (exit 1 if any): `make docker-check` runs it

Only 64-bit little-endian ELF files (x86-64, arm64) are stripped; any other file
is left as it is, with a note. Standard library only.
"""

import argparse
import struct
import sys
import tempfile
from pathlib import Path

ELF64_LITTLE_ENDIAN = b"\x7fELF\x02\x01"  # magic, 64-bit class, little-endian
HEADER = struct.Struct("<16sHHIQQQIHHHHHH")  # the ELF header
PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")  # one segment
SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")  # one section
# Positions of the fields used below, in the tuples those structures unpack to.
E_PHOFF, E_SHOFF, E_PHENTSIZE, E_PHNUM, E_SHENTSIZE, E_SHNUM, E_SHSTRNDX = 5, 6, 9, 10, 11, 12, 13
P_OFFSET, P_FILESZ = 2, 5
SH_NAME, SH_TYPE, SH_FLAGS, SH_OFFSET, SH_SIZE, SH_LINK, SH_INFO = 0, 1, 2, 4, 5, 6, 7
SHN_LORESERVE = 0xFF00  # section counts and indices from here on are encoded elsewhere
SHT_RELA, SHT_NOBITS, SHT_REL = 4, 8, 9  # section types
SHF_ALLOC, SHF_INFO_LINK = 0x2, 0x40  # section flags: loaded; sh_info names a section


class NotStrippableError(Exception):
    """A file this script leaves unchanged, and why."""


def read_sections(data: bytes) -> tuple[tuple, list[list[int]], int]:
    """The ELF header, the section headers, and where the last segment ends."""
    if not data.startswith(ELF64_LITTLE_ENDIAN):
        raise NotStrippableError("not a 64-bit little-endian ELF file")
    header = HEADER.unpack_from(data)
    if header[E_PHENTSIZE] != PROGRAM_HEADER.size or header[E_SHENTSIZE] != SECTION_HEADER.size:
        raise NotStrippableError("unexpected header sizes")
    if header[E_SHOFF] == 0 or not 0 < header[E_SHNUM] < SHN_LORESERVE:
        raise NotStrippableError("no section headers, or too many to handle")
    # Everything the loader reads: the headers at the start and every segment.
    end = header[E_PHOFF] + header[E_PHNUM] * PROGRAM_HEADER.size
    for number in range(header[E_PHNUM]):
        segment = PROGRAM_HEADER.unpack_from(data, header[E_PHOFF] + number * PROGRAM_HEADER.size)
        end = max(end, segment[P_OFFSET] + segment[P_FILESZ])
    sections = [
        list(SECTION_HEADER.unpack_from(data, header[E_SHOFF] + number * SECTION_HEADER.size))
        for number in range(header[E_SHNUM])
    ]
    return header, sections, end


def section_names(data: bytes, header: tuple, sections: list[list[int]]) -> list[str]:
    """Each section's name, from the section that holds them (e_shstrndx)."""
    table = sections[header[E_SHSTRNDX]][SH_OFFSET]
    names = []
    for section in sections:
        start = table + section[SH_NAME]
        names.append(data[start : data.index(b"\0", start)].decode(errors="replace"))
    return names


def strip(data: bytes) -> bytes:
    """The file without the sections after its last segment (the same bytes if none)."""
    header, sections, end = read_sections(data)
    names = section_names(data, header, sections)
    name_table = header[E_SHSTRNDX]  # written anew after the segments, so never kept
    kept = []
    for number, section in enumerate(sections):
        size = 0 if section[SH_TYPE] == SHT_NOBITS else section[SH_SIZE]
        inside = section[SH_OFFSET] + size <= end
        if section[SH_FLAGS] & SHF_ALLOC and not inside:
            raise NotStrippableError(f"section {names[number]} is loaded but outside every segment")
        # Section 0 is the null entry every section header table starts with.
        if number == 0 or (inside and number != name_table):
            kept.append(number)
    if len(kept) == len(sections) - 1:
        return data  # nothing to drop but the section names: already stripped
    # Linkers number the dropped sections last, so no kept section changes its
    # number and no section link (sh_link, sh_info) needs rewriting. A file
    # laid out otherwise is left alone rather than renumbered.
    if kept != list(range(len(kept))):
        raise NotStrippableError("sections to drop come before sections to keep")
    for number in kept:
        section = sections[number]
        links = [section[SH_LINK]]
        if section[SH_TYPE] in (SHT_REL, SHT_RELA) or section[SH_FLAGS] & SHF_INFO_LINK:
            links.append(section[SH_INFO])
        if max(links) >= len(kept):
            raise NotStrippableError(f"section {names[number]} refers to a section to drop")
    # The kept section headers and a new table of their names, after the kept bytes.
    table = bytearray(b"\0")
    out = []
    for old in [*kept, name_table]:
        section = list(sections[old])
        section[SH_NAME] = len(table)
        table += names[old].encode() + b"\0"
        out.append(section)
    names_offset = end + (-end % 8)
    headers_offset = names_offset + len(table) + (-(names_offset + len(table)) % 8)
    out[-1][SH_OFFSET], out[-1][SH_SIZE] = names_offset, len(table)
    new_header = list(header)
    new_header[E_SHOFF], new_header[E_SHNUM] = headers_offset, len(out)
    new_header[E_SHSTRNDX] = len(out) - 1
    result = bytearray(data[:end])
    result[: HEADER.size] = HEADER.pack(*new_header)
    result += b"\0" * (names_offset - end) + table
    result += b"\0" * (headers_offset - len(result))
    for section in out:
        result += SECTION_HEADER.pack(*section)
    return bytes(result)


def extensions(folders: list[Path]) -> list[Path]:
    """Every *.so file under the folders (symbolic links are skipped: their target is listed)."""
    return sorted(
        path
        for folder in folders
        for path in folder.rglob("*.so*")
        if path.is_file() and not path.is_symlink() and ".so" in path.suffixes
    )


def replace(path: Path, data: bytes) -> None:
    """Write the file anew, atomically, with its mode kept."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
        temporary.write(data)
    written = Path(temporary.name)
    written.chmod(path.stat().st_mode)
    written.replace(path)


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, metavar="DIR")
    parser.add_argument("--check", action="store_true", help="list the files not stripped")
    options = parser.parse_args(arguments)
    missing = [str(folder) for folder in options.folders if not folder.is_dir()]
    if missing:
        print(
            f"ERROR: not a folder: {', '.join(missing)}. "
            "Try: the folder the packages are installed in, e.g. /opt/venv",
            file=sys.stderr,
        )
        return 2
    saved, unstripped = 0, []
    for path in extensions(options.folders):
        data = path.read_bytes()
        try:
            stripped = strip(data)
        except NotStrippableError as reason:
            print(f"strip_extensions: left as it is: {path}: {reason}")
            continue
        except (struct.error, ValueError, IndexError):
            print(f"strip_extensions: left as it is: {path}: not a well-formed ELF file")
            continue
        if stripped is data:
            continue
        if options.check:
            unstripped.append(f"{path} ({(len(data) - len(stripped)) / 1e6:.1f} MB)")
        else:
            replace(path, stripped)
            saved += len(data) - len(stripped)
    if options.check:
        print("\n".join(unstripped))
        return 1 if unstripped else 0
    print(f"strip_extensions: {saved / 1e6:.1f} MB of debug information removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
