"""Evaluation data for Magika standard_v3_3: 41 small files of known types, made here in code.

Usage: python eval.py OUTDIR    (writes OUTDIR/eval.npz)

Arrays in eval.npz:
  input.bytes  int32 [41, 2048]: each file turned into the model's input with Magika's own
               preprocessing (see `features` below, and the card);
  target       int64 [41]: the index of the file's true type in the model's label list
               (config.min.json `target_labels_space`, the card's `labels`).

The files are written by this script with the standard library (zipfile, gzip, tarfile,
sqlite3, wave, ...) and hand-written source code and documents, so no test file is taken
from anywhere (only the SQLite and .pyc samples follow the local SQLite and Python versions).
They are small (184 bytes to 16 KB) and clean; real-world files are messier, so the accuracy
on this set is a smoke test of the shipped file and the preprocessing, not a benchmark of
Magika (whose authors report an average of about 99% accuracy on their test set of about
100M samples).

When the `magika` package is importable, the script also checks that `features` gives exactly
the feature vector Magika's Python implementation extracts, so the input documented on the
card is the one the model was trained with.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import marshal
import pickle
import sqlite3
import struct
import sys
import tarfile
import tempfile
import wave
import zipfile
import zlib
from importlib.util import MAGIC_NUMBER
from pathlib import Path

import numpy as np

BEG_SIZE = 1024
END_SIZE = 1024
BLOCK_SIZE = 4096
PADDING_TOKEN = 256


def features(content: bytes) -> list[int]:
    """Magika's input for one file: 1024 byte values from its start and 1024 from its end.

    Read at most BLOCK_SIZE bytes from the start and from the end; strip ASCII whitespace
    (space, \\t, \\n, \\r, \\x0b, \\x0c) from the left of the first block and from the right
    of the last; keep the first 1024 and the last 1024 bytes; pad with 256 after the start
    bytes and before the end bytes when there are fewer. Files under 8 bytes (or under 8
    bytes once stripped) are not given to the model by Magika at all.
    """
    n = min(BLOCK_SIZE, len(content))
    beg = content[:n].lstrip()[:BEG_SIZE]
    end = content[len(content) - n:].rstrip()
    end = end[len(end) - END_SIZE:] if len(end) > END_SIZE else end
    return list(beg) + [PADDING_TOKEN] * (BEG_SIZE - len(beg)) + [PADDING_TOKEN] * (END_SIZE - len(end)) + list(end)


def samples() -> list[tuple[str, bytes]]:
    """(true Magika label, file content) pairs."""
    out: list[tuple[str, bytes]] = []

    def add(label: str, content: bytes | str) -> None:
        out.append((label, content.encode("utf-8") if isinstance(content, str) else content))

    add("python", '''"""Small inventory helper."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Item:
    name: str
    quantity: int
    price: float

    def total(self) -> float:
        return self.quantity * self.price


def load(path: Path) -> list[Item]:
    with path.open(encoding="utf-8") as fh:
        return [Item(**row) for row in json.load(fh)]


def main() -> None:
    items = load(Path("inventory.json"))
    for item in sorted(items, key=lambda i: i.total(), reverse=True):
        print(f"{item.name:20} {item.total():10.2f}")


if __name__ == "__main__":
    main()
''')
    add("javascript", '''// Debounce a function so it runs at most once per `wait` milliseconds.
function debounce(fn, wait) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const input = document.querySelector("#search");
  const results = document.querySelector("#results");
  input.addEventListener("input", debounce(async (event) => {
    const response = await fetch(`/api/search?q=${encodeURIComponent(event.target.value)}`);
    const items = await response.json();
    results.innerHTML = "";
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = item.title;
      results.appendChild(li);
    }
  }, 250));
});
''')
    add("c", '''#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    int value;
    struct node *next;
} node_t;

static node_t *push(node_t *head, int value) {
    node_t *n = malloc(sizeof *n);
    if (n == NULL) {
        perror("malloc");
        exit(EXIT_FAILURE);
    }
    n->value = value;
    n->next = head;
    return n;
}

int main(int argc, char **argv) {
    node_t *head = NULL;
    for (int i = 1; i < argc; i++) {
        head = push(head, atoi(argv[i]));
    }
    for (node_t *n = head; n != NULL; n = n->next) {
        printf("%d\\n", n->value);
    }
    return 0;
}
''')
    add("java", '''package com.example.shop;

import java.util.ArrayList;
import java.util.List;

public class Cart {
    private final List<Item> items = new ArrayList<>();

    public void add(Item item) {
        if (item == null) {
            throw new IllegalArgumentException("item must not be null");
        }
        items.add(item);
    }

    public double total() {
        double sum = 0.0;
        for (Item item : items) {
            sum += item.getPrice() * item.getQuantity();
        }
        return sum;
    }

    @Override
    public String toString() {
        return "Cart{" + "items=" + items + '}';
    }
}
''')
    add("go", '''package main

import (
	"fmt"
	"net/http"
	"os"
)

func handler(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	fmt.Fprintf(w, "Hello, %s!\\n", name)
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", handler)
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
''')
    add("rust", '''use std::collections::HashMap;
use std::io::{self, BufRead};

fn main() {
    let stdin = io::stdin();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in stdin.lock().lines() {
        let line = line.expect("failed to read line");
        for word in line.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    let mut pairs: Vec<_> = counts.into_iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (word, count) in pairs.iter().take(10) {
        println!("{:>6} {}", count, word);
    }
}
''')
    add("shell", '''#!/bin/sh
# Back up a directory into a dated tarball and keep the last seven.
set -eu

SRC="${1:?usage: backup.sh DIR}"
DEST="${BACKUP_DIR:-$HOME/backups}"
STAMP="$(date +%Y-%m-%d)"

mkdir -p "$DEST"
tar -czf "$DEST/backup-$STAMP.tar.gz" -C "$(dirname "$SRC")" "$(basename "$SRC")"

ls -1t "$DEST"/backup-*.tar.gz | tail -n +8 | while read -r old; do
    echo "removing $old"
    rm -f "$old"
done
echo "done: $DEST/backup-$STAMP.tar.gz"
''')
    add("html", '''<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Opening hours</title>
  <link rel="stylesheet" href="style.css">
</head>
<body>
  <header><h1>City Library</h1></header>
  <main>
    <h2>Opening hours</h2>
    <table>
      <tr><th>Monday to Friday</th><td>9:00 - 19:00</td></tr>
      <tr><th>Saturday</th><td>10:00 - 16:00</td></tr>
      <tr><th>Sunday</th><td>closed</td></tr>
    </table>
    <p>Questions? <a href="mailto:info@library.example">Write to us</a>.</p>
  </main>
  <footer><p>&copy; City Library</p></footer>
</body>
</html>
''')
    add("css", '''/* Layout and colours for the library site */
:root {
  --accent: #1a73e8;
  --text: #202124;
}

body {
  margin: 0;
  font-family: system-ui, sans-serif;
  color: var(--text);
  line-height: 1.5;
}

header {
  background: var(--accent);
  color: white;
  padding: 1rem 2rem;
}

table {
  border-collapse: collapse;
  width: 100%;
}

th, td {
  border-bottom: 1px solid #ddd;
  padding: 0.5rem;
  text-align: left;
}

a:hover {
  text-decoration: underline;
}
''')
    add("json", json.dumps({
        "name": "modelshelf-example", "version": "1.2.0", "private": True,
        "description": "An example configuration file",
        "scripts": {"build": "vite build", "test": "vitest run", "lint": "eslint src"},
        "dependencies": {"lunr": "^2.3.9", "onnxruntime-web": "^1.20.0"},
        "devDependencies": {"eslint": "^9.0.0", "vite": "^5.4.0", "vitest": "^2.0.0"},
        "engines": {"node": ">=18"},
        "contributors": [{"name": "Ada", "email": "ada@example.org"}, {"name": "Alan", "email": "alan@example.org"}],
    }, indent=2))
    add("xml", '''<?xml version="1.0" encoding="UTF-8"?>
<catalog>
  <book id="bk101">
    <author>Gambardella, Matthew</author>
    <title>XML Developer's Guide</title>
    <genre>Computer</genre>
    <price>44.95</price>
    <publish_date>2000-10-01</publish_date>
    <description>An in-depth look at creating applications with XML.</description>
  </book>
  <book id="bk102">
    <author>Ralls, Kim</author>
    <title>Midnight Rain</title>
    <genre>Fantasy</genre>
    <price>5.95</price>
    <publish_date>2000-12-16</publish_date>
    <description>A former architect battles corporate zombies.</description>
  </book>
</catalog>
''')
    add("yaml", '''# CI workflow
name: tests
on:
  push:
    branches: [main]
  pull_request:

jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      - name: Install
        run: pip install -e .[test]
      - name: Run tests
        run: pytest -q
''')
    add("toml", '''[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "inventory"
version = "0.3.1"
description = "Keep track of things"
readme = "README.md"
requires-python = ">=3.10"
dependencies = [
  "click>=8.1",
  "rich>=13",
]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.scripts]
inventory = "inventory.cli:main"

[tool.ruff]
line-length = 100
''')
    add("ini", '''[database]
host = localhost
port = 5432
name = inventory
user = app

[server]
listen = 0.0.0.0
port = 8080
workers = 4
debug = false

[logging]
level = INFO
file = /var/log/inventory/app.log
rotate = daily
''')
    rows = ["id,name,city,age,joined"] + [
        f"{i},{name},{city},{20 + (i * 7) % 45},2023-{1 + i % 12:02d}-{1 + (i * 3) % 28:02d}"
        for i, (name, city) in enumerate(zip(
            ["Alice", "Bob", "Carla", "Dmitri", "Erin", "Farid", "Grace", "Hiro", "Ines", "Jonas"] * 4,
            ["Paris", "Berlin", "Madrid", "Rome", "Lisbon", "Vienna", "Oslo", "Tokyo", "Lima", "Cairo"] * 4), start=1)]
    add("csv", "\n".join(rows) + "\n")
    add("markdown", '''# Inventory

A small command-line tool to keep track of things you own.

## Installation

```sh
pip install inventory
```

## Usage

1. Create a file `inventory.json` with your items.
2. Run `inventory list` to see them sorted by value.
3. Run `inventory add NAME --price 9.99` to add one.

## Configuration

| option | default | meaning |
|---|---|---|
| `--file` | `inventory.json` | where items are stored |
| `--currency` | `EUR` | how prices are shown |

See [the changelog](CHANGELOG.md) for what changed, and *please* report bugs.
''')
    add("sql", '''-- Schema for the inventory database
CREATE TABLE IF NOT EXISTS owners (
    id SERIAL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(200) UNIQUE
);

CREATE TABLE IF NOT EXISTS items (
    id SERIAL PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
    name VARCHAR(200) NOT NULL,
    quantity INTEGER NOT NULL DEFAULT 1,
    price NUMERIC(10, 2)
);

CREATE INDEX items_owner_idx ON items (owner_id);

INSERT INTO owners (name, email) VALUES ('Ada', 'ada@example.org');
INSERT INTO items (owner_id, name, quantity, price) VALUES (1, 'Lamp', 2, 19.90);

SELECT o.name, SUM(i.quantity * i.price) AS total
FROM owners o JOIN items i ON i.owner_id = o.id
GROUP BY o.name
ORDER BY total DESC;
''')
    add("latex", r'''\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage{amsmath}
\title{A Short Note on Sums}
\author{A. Author}
\begin{document}
\maketitle
\section{Introduction}
We recall the formula for the sum of the first $n$ integers:
\begin{equation}
  \sum_{k=1}^{n} k = \frac{n(n+1)}{2}.
\end{equation}
\section{Proof}
By induction on $n$. The case $n = 1$ is clear. Assume the formula holds for $n$; then
\begin{align}
  \sum_{k=1}^{n+1} k &= \frac{n(n+1)}{2} + (n + 1) = \frac{(n+1)(n+2)}{2}.
\end{align}
\end{document}
''')
    add("php", '''<?php
declare(strict_types=1);

namespace App\\Controller;

use App\\Repository\\ItemRepository;

final class ItemController
{
    public function __construct(private ItemRepository $items)
    {
    }

    public function list(): array
    {
        $result = [];
        foreach ($this->items->findAll() as $item) {
            $result[] = ['name' => $item->getName(), 'price' => $item->getPrice()];
        }
        return $result;
    }

    public function show(int $id): ?array
    {
        $item = $this->items->find($id);
        return $item ? ['name' => $item->getName()] : null;
    }
}
''')
    add("ruby", '''require "json"

class Inventory
  attr_reader :items

  def initialize(path)
    @path = path
    @items = File.exist?(path) ? JSON.parse(File.read(path)) : []
  end

  def add(name, price)
    @items << { "name" => name, "price" => price }
    save
  end

  def total
    @items.sum { |item| item["price"] }
  end

  private

  def save
    File.write(@path, JSON.pretty_generate(@items))
  end
end

inventory = Inventory.new("inventory.json")
puts "Total: #{inventory.total}"
''')
    add("txt", '''Dear neighbours,

the annual street party will take place on Saturday the 14th, from two in the afternoon
until late. Everyone is welcome. If you would like to help, please bring a dish to share,
a few chairs, or simply your good mood. Children's games will start at three, and there
will be music in the evening. In case of rain, we will move into the community hall at
the end of the road.

Parking will not be possible on the street that day, so please move your car by noon.

Thank you, and see you there!
The organising committee
''')
    add("svg", '''<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120" viewBox="0 0 120 120">
  <title>Badge</title>
  <defs>
    <linearGradient id="g" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#4285f4"/>
      <stop offset="1" stop-color="#1a73e8"/>
    </linearGradient>
  </defs>
  <circle cx="60" cy="60" r="56" fill="url(#g)" stroke="#0b57d0" stroke-width="4"/>
  <path d="M38 62 L54 78 L84 44" fill="none" stroke="white" stroke-width="10" stroke-linecap="round"/>
  <text x="60" y="112" font-family="sans-serif" font-size="10" text-anchor="middle" fill="#202124">verified</text>
</svg>
''')
    add("diff", '''diff --git a/inventory/cli.py b/inventory/cli.py
index 3b18e51..a1c2d4f 100644
--- a/inventory/cli.py
+++ b/inventory/cli.py
@@ -12,7 +12,9 @@ def main() -> None:
     items = load(Path("inventory.json"))
-    for item in items:
-        print(item.name, item.total())
+    items.sort(key=lambda i: i.total(), reverse=True)
+    for item in items:
+        print(f"{item.name:20} {item.total():10.2f}")
+    print(f"{len(items)} items")
 
 
 if __name__ == "__main__":
''')
    add("dockerfile", '''FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY inventory ./inventory
RUN pip install --no-cache-dir .

RUN useradd --create-home app
USER app

EXPOSE 8080
ENTRYPOINT ["inventory"]
CMD ["serve", "--port", "8080"]
''')
    add("rtf", r'''{\rtf1\ansi\ansicpg1252\deff0\nouicompat{\fonttbl{\f0\fnil\fcharset0 Calibri;}}
{\*\generator Riched20 10.0.19041}\viewkind4\uc1
\pard\sa200\sl276\slmult1\b\f0\fs28\lang9 Meeting notes\b0\fs22\par
Date: 14 March\par
Present: Ada, Alan, Grace\par
\par
1. The budget for next year was approved.\par
2. The new office opens in June.\par
3. Next meeting: 11 April.\par
}
''')

    # Binary formats, written with the standard library.
    add("png", _png(48, 32))
    add("gif", _gif())
    add("bmp", _bmp(24, 16))
    add("wav", _wav())
    add("zip", _zip({"notes.txt": "Shopping list: bread, milk, eggs.\n" * 8,
                     "data/values.csv": "a,b\n" + "".join(f"{i},{i * i}\n" for i in range(50))}))
    add("gzip", gzip.compress("".join(f"2024-05-01 12:00:{i % 60:02d} INFO request {i} served in {i % 17} ms\n"
                                      for i in range(200)).encode(), mtime=0))
    add("bzip", bz2.compress("".join(f"record {i}: value={i * 3.5:.1f}\n" for i in range(300)).encode()))
    add("xz", lzma.compress("".join(f"entry {i} -> {hex(i * 7919)}\n" for i in range(300)).encode()))
    add("tar", _tar({"readme.txt": "This archive holds two small text files.\n",
                     "data.csv": "x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(40))}))
    add("pdf", _pdf())
    add("sqlite", _sqlite())
    add("pickle", pickle.dumps({"name": "inventory", "items": [{"id": i, "name": f"item {i}", "price": i * 1.5}
                                                               for i in range(20)], "tags": ("a", "b")}, protocol=4))
    add("pythonbytecode", _pyc())
    buf = io.BytesIO()
    np.save(buf, np.arange(300, dtype=np.float64).reshape(30, 10))
    add("npy", buf.getvalue())
    add("jsonl", "".join(json.dumps({"id": i, "text": f"example sentence number {i}", "label": i % 3}) + "\n"
                         for i in range(30)))
    add("ics", '''BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//Calendar 1.0//EN
CALSCALE:GREGORIAN
BEGIN:VEVENT
UID:20240514T120000Z-1@example.org
DTSTAMP:20240501T090000Z
DTSTART:20240514T120000Z
DTEND:20240514T130000Z
SUMMARY:Project review
LOCATION:Room 4.12
DESCRIPTION:Quarterly review of the inventory project.
END:VEVENT
BEGIN:VEVENT
UID:20240521T080000Z-2@example.org
DTSTAMP:20240501T090000Z
DTSTART:20240521T080000Z
DTEND:20240521T083000Z
SUMMARY:Stand-up
END:VEVENT
END:VCALENDAR
'''.replace("\n", "\r\n"))
    return out


def _png(width: int, height: int) -> bytes:
    raw = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 5 % 256, y * 8 % 256, (x + y) * 3 % 256))
                   for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _gif() -> bytes:
    # 16x16 pixels, 4-colour palette. The LZW image data sends a clear code before every second
    # pixel, so the decoder's table never grows past 3-bit codes and a fixed code width is valid.
    width = height = 16
    palette = bytes((0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255))
    clear, end = 4, 5
    codes: list[int] = []
    for i in range(width * height):
        if i % 2 == 0:
            codes.append(clear)
        codes.append((i // 4 + i // 64) % 4)
    codes.append(end)
    bits = 0
    nbits = 0
    data = bytearray()
    for code in codes:
        bits |= code << nbits
        nbits += 3
        while nbits >= 8:
            data.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        data.append(bits & 0xFF)
    blocks = b"".join(bytes((len(data[i:i + 255]),)) + bytes(data[i:i + 255]) for i in range(0, len(data), 255))
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF1, 0, 0) + palette
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02" + blocks + b"\x00\x3b")


def _bmp(width: int, height: int) -> bytes:
    row = (width * 3 + 3) & ~3
    pixels = b"".join(bytes(v for x in range(width) for v in (x * 10 % 256, y * 15 % 256, 128))
                      + b"\x00" * (row - width * 3) for y in range(height))
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def _wav() -> bytes:
    buf = io.BytesIO()
    t = np.arange(8000) / 8000.0
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(tone.tobytes())
    return buf.getvalue()


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0)), text,
                       compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1714564800
            info.mode = 0o644
            info.uname = info.gname = "user"
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _pdf() -> bytes:
    stream = b"BT /F1 24 Tf 72 720 Td (Hello from Modelshelf) Tj ET\nBT /F1 12 Tf 72 690 Td (A one-page PDF.) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _sqlite() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.db"
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL)")
        con.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [(f"item {i}", i * 1.25) for i in range(50)])
        con.commit()
        con.close()
        return path.read_bytes()


def _pyc() -> bytes:
    source = "def greet(name):\n    return 'Hello, ' + name\n\nfor n in ('Ada', 'Alan'):\n    print(greet(n))\n"
    code = compile(source, "greet.py", "exec")
    # PEP 552 header: magic, flags (0 = timestamp-based), mtime, source size.
    return MAGIC_NUMBER + struct.pack("<III", 0, 1714564800, len(source)) + marshal.dumps(code)


def _magika_features(content: bytes) -> list[int] | None:
    """The features Magika's own Python code extracts, or None when magika is not installed."""
    try:
        from magika import Magika
        from magika.types.seekable import Seekable
    except ImportError:
        return None
    fs = Magika._extract_features_from_seekable(Seekable(io.BytesIO(content)), BEG_SIZE, 0, END_SIZE,
                                                PADDING_TOKEN, BLOCK_SIZE, False)
    return list(fs.beg) + list(fs.end)


def main(outdir: Path) -> int:
    labels = _labels()
    data = samples()
    x = np.array([features(content) for _, content in data], dtype=np.int32)
    unknown = [label for label, _ in data if label not in labels]
    if unknown:
        print(f"error: labels not in the model's label space: {unknown}", file=sys.stderr)
        return 1
    y = np.array([labels.index(label) for label, _ in data], dtype=np.int64)
    checked = 0
    for (label, content), row in zip(data, x):
        theirs = _magika_features(content)
        if theirs is None:
            break
        if theirs != row.tolist():
            print(f"error: features of the {label} sample differ from Magika's own", file=sys.stderr)
            return 1
        checked += 1
    outdir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(outdir / "eval.npz", **{"input.bytes": x, "target": y})
    sizes = [len(content) for _, content in data]
    print(f"eval.npz: {len(data)} files of {len(set(label for label, _ in data))} types, "
          f"{min(sizes)}-{max(sizes)} bytes; features identical to magika's for {checked} of them")
    return 0


def _labels() -> list[str]:
    """The model's output labels, from the config the magika wheel ships beside the model."""
    from importlib.resources import files

    config = files("magika").joinpath("models/standard_v3_3/config.min.json").read_text(encoding="utf-8")
    return list(json.loads(config)["target_labels_space"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python eval.py OUTDIR")
    sys.exit(main(Path(sys.argv[1])))
