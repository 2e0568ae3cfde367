"""The results chart: horizontal bars by variant, hand-written SVG."""

from __future__ import annotations

from xml.sax.saxutils import escape

from .common import BASELINE, MB

COLOURS = {"naive": "#c0504d", "seed": "#4f81bd"}
WIDTH, LEFT, BAR_W, BAR_H, GAP = 940, 190, 480, 24, 10


def colour(name: str) -> str:
    return COLOURS.get(name, "#2e8b57" if name.startswith("slim-python") else "#8e7cc3")


class _Canvas:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.y = 30

    def text(self, x: float, body: str, size: int = 13, dy: float = 0, **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.out.append(
            f'<text x="{x:.1f}" y="{self.y + dy:.1f}" font-size="{size}"{extra}>'
            f"{escape(body)}</text>"
        )

    def rect(self, x: float, width: float, fill: str) -> None:
        self.out.append(
            f'<rect x="{x:.1f}" y="{self.y}" width="{width:.1f}" height="{BAR_H}" fill="{fill}"/>'
        )

    def bars(self, title: str, rows: list[tuple[str, float, float, str]]) -> None:
        """One chart: (name, grey part, coloured part, label) per bar, scaled to the largest."""
        self.y += 35
        self.text(20, title, 14)
        self.y += 12
        largest = max(grey + value for _, grey, value, _ in rows) or 1
        for name, grey, value, label in rows:
            grey_px = BAR_W * grey / largest
            value_px = max(BAR_W * value / largest, 1)
            self.text(LEFT - 10, name, dy=BAR_H * 0.7, text_anchor="end")
            if grey_px:
                self.rect(LEFT, grey_px, "#bbb")
            self.rect(LEFT + grey_px, value_px, colour(name))
            self.text(LEFT + grey_px + value_px + 6, label, 12, dy=BAR_H * 0.7)
            self.y += BAR_H + GAP


def chart_svg(report: dict) -> str:
    by_name = report["variants"]
    seed = by_name[BASELINE]
    canvas = _Canvas()
    canvas.text(20, "slim-python benchmark: image size, bytes pulled and start-up", 18,
                font_weight="bold")  # fmt: skip

    def share(r: dict, key: str) -> str:
        return f"{r[key] / seed[key]:.2f}x"

    canvas.bars(
        "Image size, uncompressed (MB). Grey: the runtime base it starts from.",
        [
            (n, r["base_bytes"], r["added_bytes"],
             f"{r['size_bytes'] / MB:.1f} MB ({share(r, 'size_bytes')}), "
             f"+{r['added_bytes'] / MB:.1f} MB")
            for n, r in by_name.items()
        ],
    )  # fmt: skip
    pulled = {n: r["fresh_node"]["pulled_bytes"] for n, r in by_name.items() if "fresh_node" in r}
    if pulled:
        canvas.bars(
            "Compressed bytes a fresh node pulls (MB, measured at the registry)",
            [
                (n, 0, b, f"{b / MB:.1f} MB ({b / pulled[BASELINE]:.2f}x)")
                for n, b in pulled.items()
            ],
        )
    canvas.bars(
        "Start-to-first-200 on /healthz after docker run, image present, median (s)",
        [
            (n, 0, r["startup_s"], f"{r['startup_s']:.2f} s ({share(r, 'startup_s')})")
            for n, r in by_name.items()
        ],
    )
    m, bases, p = report["machine"], report["bases"], report["plan"]
    canvas.y += 20
    footer = [
        f"Measured {m['date']} ({'quick' if p['quick'] else 'full'} run), Python {p['python']}: "
        f"{m['cores']} cores, {m['cpu']}, kernel {m['kernel']}, Docker {m['docker']}.",
    ]
    for kind in ("slim", "full"):
        b = bases[kind]
        what = "LOCAL STAND-IN, not the official image" if b["standin"] else "official image"
        footer.append(f"{kind} base: {b['ref']} ({what}), {b['size_bytes'] / MB:.0f} MB")
    footer.append(
        f"Shared machine (load average {m['loadavg_at_start']:.1f} at the start, "
        f"{m['loadavg_at_end']:.1f} at the end): compare ratios of one run, not absolute times."
    )
    for line in footer:
        canvas.text(20, line, 11, fill="#444")
        canvas.y += 16
    height = canvas.y + 10
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Arial, sans-serif">\n'
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>'
    )
    return head + "\n" + "\n".join(canvas.out) + "\n</svg>\n"
