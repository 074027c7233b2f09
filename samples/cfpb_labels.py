"""Labels for the CFPB taxonomy (``rules/cfpb.yaml``) from the CFPB sample itself.

The label of a narrative is its complaint's ``Product`` (and ``Sub-product``) mapped to a product
family by ``product_families.json`` (overrides first, then the product map, then the default), as
that file prescribes. The split (``tune`` ~60%, ``test`` ~40%) is a fixed hash of the complaint
id, so the rules are tuned on one part and measured on the other without choosing rows.

    python -m samples.cfpb_labels ../shared/data/cfpb-complaints-2019-2020-sample OUT.csv
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_FILE = "complaints_cfpb_2019_2020_sample.csv"
FAMILIES_FILE = "product_families.json"


@dataclass(frozen=True)
class FamilyMap:
    products: dict[str, str]
    overrides: dict[tuple[str, str], str]
    default: str
    families: tuple[str, ...]

    def family(self, product: str, sub_product: str) -> str:
        product, sub_product = product.strip(), sub_product.strip()
        return (self.overrides.get((product, sub_product))
                or self.products.get(product) or self.default)


def load_family_map(path: Path) -> FamilyMap:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return FamilyMap(
        products=dict(doc["product_to_family"]),
        overrides={(o["product"], o["sub_product"]): o["family"]
                   for o in doc["subproduct_overrides"]},
        default=str(doc["default_family"]),
        families=tuple(doc["families"]),
    )


def split_of(key: str) -> str:
    return "tune" if int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10 < 6 else "test"


def labelled_narratives(folder: Path) -> list[dict[str, str]]:
    """``text,category,split`` rows: every complaint with a narrative, in file order."""
    families = load_family_map(folder / FAMILIES_FILE)
    with (folder / SAMPLE_FILE).open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["Consumer complaint narrative"].strip()]
    return [{"text": r["Consumer complaint narrative"],
             "category": families.family(r["Product"], r["Sub-product"]),
             "split": split_of(r["Complaint ID"])} for r in rows]


def write_labels(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "category", "split"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    write_labels(labelled_narratives(Path(sys.argv[1])), Path(sys.argv[2]))
