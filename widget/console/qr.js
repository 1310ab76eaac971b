/**
 * QR Code (ISO/IEC 18004:2015) drawn locally, for the duty console's TOTP enrolment: the
 * `otpauth://` URI (it holds the shared secret) must never reach a third-party service.
 *
 * Byte mode only (the text as UTF-8, no ECI header: authenticator apps read otpauth URIs as
 * UTF-8), error correction levels L, M, Q and H, versions 1–40, the smallest version that
 * fits, the data mask chosen by the penalty rules of 7.8.3. No DOM, no dependency: runs in
 * browsers and in Node 20.
 *
 * Coordinates are (row, col) from the top-left corner; a module is true when it is dark.
 *
 * @module qr
 */

/** Format information bits (Table 12) and table index of each error correction level. */
const LEVELS = Object.freeze({
  L: { bits: 0b01, index: 0 },
  M: { bits: 0b00, index: 1 },
  Q: { bits: 0b11, index: 2 },
  H: { bits: 0b10, index: 3 },
});

// Table 9, by level (L, M, Q, H) and version (index 0 unused): error correction codewords
// per block, and the number of blocks.
const ECC_PER_BLOCK = [
  [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
  [0, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  [0, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
];
const BLOCKS = [
  [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
  [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
  [0, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
  [0, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
];

/** The eight data masks of Table 10: a module is inverted where the condition holds. */
const MASKS = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

/**
 * The QR Code of `text` (UTF-8, byte mode) at level `ecc`, in the smallest version that holds
 * it. Throws a RangeError for an unknown level or a text longer than version 40 holds
 * (2953 bytes at L, 1273 at H).
 *
 * @param {string} text
 * @param {{ecc?: 'L' | 'M' | 'Q' | 'H'}} [options]
 * @returns {{version: number, ecc: string, mask: number, size: number, modules: boolean[][]}}
 */
export function encode(text, { ecc = 'M' } = {}) {
  if (typeof text !== 'string') throw new TypeError('qr: the text must be a string');
  if (!Object.hasOwn(LEVELS, ecc)) throw new RangeError(`qr: unknown error correction level ${ecc}`);
  const level = LEVELS[ecc];
  const bytes = new TextEncoder().encode(text);
  const version = smallestVersion(bytes.length, level);
  const data = dataCodewords(bytes, version, dataCapacity(version, level));
  const codewords = withErrorCorrection(data, version, level);

  const size = 4 * version + 17;
  const { dark, fixed } = functionPatterns(version, size);
  placeCodewords(dark, fixed, codewords);
  // Format and version information come after masking (7.8, 7.9, 7.10): their modules are
  // still light while the masks are scored. The reference encoder of the tests (segno)
  // scores them so too; an encoder that scores the finished symbol may pick another mask,
  // which is as readable, since the format information names the mask.
  /** @type {{mask: number, score: number, modules: boolean[][]} | null} */
  let best = null;
  MASKS.forEach((inverts, mask) => {
    const modules = dark.map((row, r) => row.map((d, c) => (fixed[r][c] ? d : d !== inverts(r, c))));
    const score = penalty(modules);
    if (best === null || score < best.score) best = { mask, score, modules };
  });
  const { mask, modules } = best;
  drawInfo((r, c, d) => (modules[r][c] = d), version, size, formatBits(level, mask));
  return { version, ecc, mask, size, modules };
}

// --------------------------------------------------------------------------- data codewords

/** Modules left for data and error correction codewords (and remainder bits) in a version. */
function rawModules(version) {
  // A closed form of Table 1's data modules: the square less finders with separators and
  // format areas, timing patterns, alignment patterns (less their overlap with the timing
  // patterns) and, from version 7 on, the two version areas (2 × 18).
  let modules = (16 * version + 128) * version + 64;
  if (version >= 2) {
    const perSide = Math.floor(version / 7) + 2;
    modules -= (25 * perSide - 10) * perSide - 55;
  }
  if (version >= 7) modules -= 36;
  return modules;
}

function dataCapacity(version, level) {
  const i = level.index;
  return (rawModules(version) >> 3) - BLOCKS[i][version] * ECC_PER_BLOCK[i][version];
}

function smallestVersion(length, level) {
  for (let version = 1; version <= 40; version++) {
    const countBits = version < 10 ? 8 : 16; // byte mode character count (Table 3)
    if (4 + countBits + 8 * length <= 8 * dataCapacity(version, level)) return version;
  }
  throw new RangeError(`qr: ${length} bytes do not fit in a QR Code at this level`);
}

/** Mode indicator, count, the bytes, terminator and padding (7.4). */
function dataCodewords(bytes, version, capacity) {
  const bits = [];
  const put = (value, length) => {
    for (let i = length - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, version < 10 ? 8 : 16);
  for (const byte of bytes) put(byte, 8);
  put(0, Math.min(4, 8 * capacity - bits.length)); // terminator, cut short when full
  // Zero bits up to the next codeword boundary, none when already on one (7.4.10; segno
  // 1.6 adds a whole zero byte then, its issue #148).
  put(0, (8 - (bits.length % 8)) % 8);
  const codewords = [];
  for (let i = 0; i < bits.length; i += 8) {
    codewords.push(bits.slice(i, i + 8).reduce((byte, bit) => (byte << 1) | bit, 0));
  }
  for (let pad = 0xec; codewords.length < capacity; pad ^= 0xec ^ 0x11) codewords.push(pad);
  return codewords;
}

/** Splits the data into blocks, adds each block's Reed–Solomon codewords, interleaves (7.6). */
function withErrorCorrection(data, version, level) {
  const blocks = BLOCKS[level.index][version];
  const eccLength = ECC_PER_BLOCK[level.index][version];
  const total = rawModules(version) >> 3;
  // Blocks differ by at most one data codeword: the short ones come first.
  const shortBlocks = blocks - (total % blocks);
  const shortLength = Math.floor(total / blocks) - eccLength;
  const generator = rsGenerator(eccLength);
  const dataBlocks = [];
  const eccBlocks = [];
  for (let b = 0, start = 0; b < blocks; b++) {
    const block = data.slice(start, start + shortLength + (b < shortBlocks ? 0 : 1));
    start += block.length;
    dataBlocks.push(block);
    eccBlocks.push(rsRemainder(block, generator));
  }
  return [...interleave(dataBlocks), ...interleave(eccBlocks)];
}

function interleave(blocks) {
  const out = [];
  const longest = Math.max(...blocks.map((block) => block.length));
  for (let i = 0; i < longest; i++) {
    for (const block of blocks) if (i < block.length) out.push(block[i]);
  }
  return out;
}

// --------------------------------------------------------------------------- Reed–Solomon

/** Product in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1 (0x11d), the field of 7.5.2. */
function gfMultiply(a, b) {
  let product = 0;
  for (; b > 0; b >>= 1) {
    if (b & 1) product ^= a;
    a <<= 1;
    if (a & 0x100) a ^= 0x11d;
  }
  return product;
}

/** (x - α^0)(x - α^1)…(x - α^(degree-1)) with α = 2, coefficients highest power first. */
function rsGenerator(degree) {
  let poly = [1];
  for (let i = 0, root = 1; i < degree; i++, root = gfMultiply(root, 2)) {
    // poly · (x + root): subtraction is addition (xor) in GF(2^8).
    poly = [...poly, 0].map((c, j) => c ^ (j > 0 ? gfMultiply(poly[j - 1], root) : 0));
  }
  return poly;
}

/** The error correction codewords: data · x^degree modulo the generator (long division). */
function rsRemainder(data, generator) {
  const rest = [...data, ...new Array(generator.length - 1).fill(0)];
  for (let i = 0; i < data.length; i++) {
    const factor = rest[i];
    for (let j = 1; j < generator.length; j++) rest[i + j] ^= gfMultiply(generator[j], factor);
  }
  return rest.slice(data.length);
}

// --------------------------------------------------------------------------- the matrix

function squareOf(size, value) {
  return Array.from({ length: size }, () => new Array(size).fill(value));
}

/**
 * Finders, separators, timing and alignment patterns; the format and version areas and the
 * dark module are reserved (`fixed`) but left light until the mask is chosen.
 */
function functionPatterns(version, size) {
  const dark = squareOf(size, false);
  const fixed = squareOf(size, false);
  const set = (r, c, isDark) => {
    dark[r][c] = isDark;
    fixed[r][c] = true;
  };
  for (let i = 0; i < size; i++) {
    set(6, i, i % 2 === 0);
    set(i, 6, i % 2 === 0);
  }
  // Finders (with their light separators) and alignment patterns: concentric squares
  // coloured by the distance from their centre, cut at the edge of the symbol.
  const rings = (r0, c0, radius, isDark) => {
    for (let r = Math.max(r0 - radius, 0); r <= Math.min(r0 + radius, size - 1); r++) {
      for (let c = Math.max(c0 - radius, 0); c <= Math.min(c0 + radius, size - 1); c++) {
        set(r, c, isDark(Math.max(Math.abs(r - r0), Math.abs(c - c0))));
      }
    }
  };
  for (const [r, c] of [[3, 3], [3, size - 4], [size - 4, 3]]) {
    rings(r, c, 4, (distance) => distance !== 2 && distance !== 4);
  }
  // Alignment patterns at every pair of centres but the three finder corners; those on row or
  // column 6 cross the timing pattern, which agrees with them (the centres are even).
  const centres = alignmentCentres(version, size);
  const last = centres.length - 1;
  centres.forEach((r, i) => centres.forEach((c, j) => {
    const corner = (i === 0 && (j === 0 || j === last)) || (i === last && j === 0);
    if (!corner) rings(r, c, 2, (distance) => distance !== 1);
  }));
  drawInfo(set, version, size, null);
  return { dark, fixed };
}

/** Row and column of alignment pattern centres (Annex E): 6, then evenly spaced to size - 7. */
function alignmentCentres(version, size) {
  if (version === 1) return [];
  const count = Math.floor(version / 7) + 2;
  // This closed form gives the even spacing of Table E.1, version 32's irregular 26 included.
  const step = Math.floor((version * 8 + count * 3 + 5) / (count * 4 - 4)) * 2;
  const centres = [6];
  for (let i = count - 2; i >= 0; i--) centres.push(size - 7 - i * step);
  return centres;
}

/**
 * Both copies of the 15 format bits (Figure 25), the dark module and, from version 7 on, both
 * copies of the 18 version bits (Figure 27); bit i counts from the least significant. With
 * `format` null, all light: their modules are reserved until the mask is chosen.
 */
function drawInfo(set, version, size, format) {
  const bit = (bits, i) => format !== null && ((bits >>> i) & 1) === 1;
  for (let i = 0; i < 15; i++) {
    // Around the top-left finder: down column 8 (skipping the timing row), then left on row 8.
    const [r, c] = i < 6 ? [i, 8] : i < 8 ? [i + 1, 8] : i === 8 ? [8, 7] : [8, 14 - i];
    set(r, c, bit(format, i));
    // Split: row 8 under the top-right finder, then column 8 beside the bottom-left one.
    set(...(i < 8 ? [8, size - 1 - i] : [size - 15 + i, 8]), bit(format, i));
  }
  set(size - 8, 8, format !== null);
  if (version < 7) return;
  const info = versionBits(version);
  for (let i = 0; i < 18; i++) {
    const [a, b] = [Math.floor(i / 3), size - 11 + (i % 3)]; // 6 × 3 top right, 3 × 6 bottom left
    set(a, b, bit(info, i));
    set(b, a, bit(info, i));
  }
}

/**
 * The bit stream in two-module columns from the right, up and down in turn, skipping function
 * modules and the vertical timing column (7.7.3). Modules left over are remainder bits (0).
 */
function placeCodewords(dark, fixed, codewords) {
  const size = dark.length;
  let bit = 0;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    const upwards = ((right + 1) & 2) === 0;
    for (let step = 0; step < size; step++) {
      const r = upwards ? size - 1 - step : step;
      for (const c of [right, right - 1]) {
        if (fixed[r][c]) continue;
        const codeword = codewords[bit >> 3];
        dark[r][c] = codeword !== undefined && ((codeword >> (7 - (bit & 7))) & 1) === 1;
        bit++;
      }
    }
  }
}

// --------------------------------------------------------------------------- mask penalty

/** The penalty score of 7.8.3.1 (Table 11); the mask with the lowest one is chosen. */
function penalty(modules) {
  const size = modules.length;
  const columns = modules.map((_, c) => modules.map((row) => row[c]));
  let score = 0;
  for (const line of [...modules, ...columns]) score += lineRuns(line) + finderLike(line);
  // N2: 3 for every 2 × 2 block of one colour (overlapping blocks all count).
  for (let r = 0; r + 1 < size; r++) {
    for (let c = 0; c + 1 < size; c++) {
      const v = modules[r][c];
      if (modules[r][c + 1] === v && modules[r + 1][c] === v && modules[r + 1][c + 1] === v) score += 3;
    }
  }
  // N4: 10 for every full 5 % that the dark proportion deviates from 50 %, in integers
  // (|100·dark/total - 50| / 5 = |20·dark - 10·total| / total).
  const total = size * size;
  const darkCount = modules.flat().filter(Boolean).length;
  score += 10 * Math.floor(Math.abs(20 * darkCount - 10 * total) / total);
  return score;
}

/** N1: 3 + (length - 5) for every run of five or more modules of one colour. */
function lineRuns(line) {
  let score = 0;
  for (let start = 0, end = 0; start < line.length; start = end) {
    while (end < line.length && line[end] === line[start]) end++;
    if (end - start >= 5) score += end - start - 2;
  }
  return score;
}

const FINDER_LIKE = [true, false, true, true, true, false, true];

/**
 * N3: 40 for every dark-light-dark-dark-dark-light-dark (1:1:3:1:1) run with four light
 * modules before or after it; beyond the edge counts as light (the quiet zone is). Table 11
 * does not say whether two such runs that share modules (10111011101) both count: like segno,
 * the scan goes on after the end of a run it counted, so counted runs never overlap.
 */
function finderLike(line) {
  const light = (from, to) => line.slice(Math.max(from, 0), Math.max(to, 0)).every((m) => !m);
  let score = 0;
  for (let i = 0; i + FINDER_LIKE.length <= line.length; i++) {
    if (FINDER_LIKE.every((m, k) => line[i + k] === m) && (light(i - 4, i) || light(i + 7, i + 11))) {
      score += 40;
      i += FINDER_LIKE.length - 1;
    }
  }
  return score;
}

// --------------------------------------------------------------------------- format, version

/** Level and mask (5 bits), BCH(15, 5) remainder, xor 101010000010010 (7.9.1). */
function formatBits(level, mask) {
  const data = (level.bits << 3) | mask;
  let rest = data;
  for (let i = 0; i < 10; i++) rest = (rest << 1) ^ ((rest >>> 9) * 0x537);
  return ((data << 10) | rest) ^ 0x5412;
}

/** Version (6 bits) and its BCH(18, 6) remainder, not masked (7.10). */
function versionBits(version) {
  let rest = version;
  for (let i = 0; i < 12; i++) rest = (rest << 1) ^ ((rest >>> 11) * 0x1f25);
  return (version << 12) | rest;
}

// --------------------------------------------------------------------------- SVG

/**
 * The symbol as an SVG document: a white square with a quiet zone of `border` modules, one
 * path of the dark modules in horizontal runs, and a `<title>` naming it for screen readers.
 * Safe to insert as markup: only the title comes from the caller, and it is escaped. Do not
 * put the otpauth URI (its secret) in the title.
 *
 * @param {{modules: boolean[][]}} qr the result of `encode`
 * @param {{border?: number, title?: string}} [options]
 * @returns {string}
 */
export function toSvg(qr, { border = 4, title = 'QR code' } = {}) {
  const { side, path } = outline(qr, border);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${side} ${side}" role="img"` +
    ` shape-rendering="crispEdges"><title>${escapeXml(String(title))}</title>` +
    `<rect width="${side}" height="${side}" fill="#fff"/><path fill="#000" d="${path}"/></svg>`
  );
}

/**
 * The same picture as {@link toSvg}, made as DOM nodes: no markup is parsed, so it needs no
 * HTML sink (the console's CSP requires Trusted Types and allows no policy).
 * @param {{modules: boolean[][]}} qr
 * @param {{border?: number, title?: string}} [options]
 * @returns {SVGSVGElement}
 */
export function toSvgElement(qr, { border = 4, title = 'QR code' } = {}) {
  const { side, path } = outline(qr, border);
  const ns = 'http://www.w3.org/2000/svg';
  const make = (tag, attrs) => {
    const node = document.createElementNS(ns, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    return node;
  };
  const svg = /** @type {SVGSVGElement} */ (make('svg', { viewBox: `0 0 ${side} ${side}`, role: 'img', 'shape-rendering': 'crispEdges' }));
  const name = make('title', {});
  name.textContent = String(title);
  svg.append(name, make('rect', { width: side, height: side, fill: '#fff' }), make('path', { fill: '#000', d: path }));
  return svg;
}

/** The side (modules, with the border) and one path of runs covering the dark modules. */
function outline(qr, border) {
  if (!Number.isInteger(border) || border < 0) throw new RangeError('qr: border must be an integer ≥ 0');
  const size = qr.modules.length;
  let path = '';
  qr.modules.forEach((row, r) => {
    for (let c = 0; c < size; c++) {
      if (!row[c]) continue;
      const start = c;
      while (c + 1 < size && row[c + 1]) c++;
      const run = c + 1 - start;
      path += `M${start + border} ${r + border}h${run}v1h-${run}z`;
    }
  });
  return { side: size + 2 * border, path };
}

/** Escapes markup and drops what XML 1.0 does not allow (controls, lone surrogates). */
function escapeXml(text) {
  const entities = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/[&<>"']/g, (ch) => entities[ch]);
}
