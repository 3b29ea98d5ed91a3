import { inflateSync } from 'node:zlib';
import hdr from 'hdr-histogram-js';
import type { Histogram as HdrHistogram } from 'hdr-histogram-js';
import { HDR_SIGNIFICANT_DIGITS, V2_COMPRESSED_COOKIE, V2_ENCODING_COOKIE, type JsInternals } from '../store/hdr-slot.js';

// A summary's HDR blob as a process hash holds it: base64 of `cookie, length, deflate(V2 encoding)`.
// hdr-histogram-js' decodeFromCompressedBase64 trusts all of it: it inflates without bound (a 1.4 MB
// deflate bomb took the collector to 2.2 GB), sizes the counts array from the header's precision
// (5 significant digits: 128 times ours), and loops over a zero run as long as the payload says (a
// run of 2^50 zeros is a blob of a few bytes that never finishes decoding). Here the blob is checked
// against what our writers produce (newHdr(): 3 significant digits, unit 1) before the library sees
// it, so that one blob costs at most `maxBytes` of inflating and one counts array of ours.

/** Why a blob was refused: `hdr` (not one we write), `hdr-too-big` (inflates past the limit). */
export type BadHdrKind = 'hdr' | 'hdr-too-big';

const HEADER_BYTES = 40;
/** Counts array length of a histogram of ours (unit 1, 3 digits) at its widest: hdr-histogram-js stops adding buckets past 2^53. */
const MAX_COUNTS = countsLength(Number.MAX_SAFE_INTEGER);

/** As hdr-histogram-js' getLengthForNumberOfBuckets(getBucketsNeededToCoverValue(v)) for unit 1 and 3 digits (2,048 sub-buckets). */
function countsLength(highest: number): number {
  let smallestUntrackable = 2048;
  let buckets = 1;
  while (smallestUntrackable <= highest) {
    if (smallestUntrackable > Number.MAX_SAFE_INTEGER / 2) {
      buckets++;
      break;
    }
    smallestUntrackable *= 2;
    buckets++;
  }
  return (buckets + 1) * 1024;
}

/** The histogram of a blob, or why it was refused. */
export function decodeHdrBlob(text: string, maxBytes: number): HdrHistogram | BadHdrKind {
  const raw = checkedBlob(text, maxBytes);
  if (typeof raw === 'string') return raw;
  try {
    return (hdr.JsHistogram as unknown as { decode(data: Uint8Array): HdrHistogram }).decode(raw);
  } catch {
    return 'hdr';
  }
}

/**
 * Adds a blob's counts to `into` (a histogram of newHdr()'s layout, autoResize): what
 * `into.add(decodeHdrBlob(text))` adds, without the histogram in between: its counts array
 * allocated and zeroed, filled, walked once for its minimum and maximum and once more by add()
 * (~80 us a blob; a scrape of 2,000 summary series written by 8 processes decoded 16,000). The
 * counts are the decoded histogram's (unsigned 32-bit, as its counts array stores them; only those
 * above 0 are added, as add() does). Nothing is added to `into` when the blob is refused.
 */
export function addHdrBlob(text: string, maxBytes: number, into: HdrHistogram): BadHdrKind | null {
  const raw = checkedBlob(text, maxBytes);
  if (typeof raw === 'string') return raw;
  const end = HEADER_BYTES + raw.readInt32BE(4);
  // The highest and lowest index with a count above 0 first (the highest is recorded through the
  // library, which grows `into` to hold it), then the others straight at their index.
  let top = -1;
  let topCount = 0;
  let low = -1;
  forEachCount(raw, HEADER_BYTES, end, (index, count) => {
    top = index;
    topCount = count;
    if (low < 0 && index > 0) low = index;
  });
  if (top < 0) return null;
  const js = into as unknown as JsInternals;
  into.recordValueWithCount(js.valueFromIndex(top), topCount);
  forEachCount(raw, HEADER_BYTES, end, (index, count) => {
    if (index === top) return;
    js.addToCountAtIndex(index, count);
    js.addToTotalCount(count);
  });
  if (low > 0) js.updateMinAndMax(js.valueFromIndex(low));
  return null;
}

/**
 * Calls `fn` with each index whose count, as a Uint32Array stores it, is above 0, in order
 * (the payload was checked by countsFit: it fits and ends where it should).
 */
function forEachCount(buf: Buffer, start: number, end: number, fn: (index: number, count: number) => void): void {
  let index = 0;
  for (let at = start; at < end && (at = readWord(buf, at, end)) >= 0; ) {
    if (word.odd) index += (word.value + 1) / 2;
    else {
      // As the library's 32-bit counts array (a Uint32Array) stores it.
      const count = (word.value / 2) >>> 0;
      if (count > 0) fn(index, count);
      index++;
    }
  }
}

/** The last word readWord() read: its value, and whether its first byte is odd (a run of zero counts). */
const word = { value: 0, odd: 0 };

/**
 * Reads the ZigZag LEB128 word at `at` (at most 9 bytes, as hdr-histogram-js' ZigZagEncoding reads
 * it) into `word`; returns where the next one starts, or -1 when it runs past `end`.
 */
function readWord(buf: Buffer, at: number, end: number): number {
  let value = 0;
  let scale = 1;
  let byte = 0x80;
  word.odd = (buf[at] ?? 0) & 1;
  for (let i = 0; i < 9 && byte & 0x80; i++) {
    if (at >= end) return -1;
    byte = buf[at++]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
  }
  word.value = value;
  return at;
}

/** The inflated V2 encoding of a blob checked against what our writers produce, or why it was refused. */
function checkedBlob(text: string, maxBytes: number): Buffer | BadHdrKind {
  // Deflate never grows data by more than a few bytes per 16 KB block: a longer text cannot inflate within the limit.
  if (text.length > Math.ceil(((maxBytes * 1.01 + 64) * 4) / 3)) return 'hdr-too-big';
  const data = Buffer.from(text, 'base64');
  if (data.length < 8 || (data.readInt32BE(0) & ~0xf0) !== (V2_COMPRESSED_COOKIE & ~0xf0)) return 'hdr';
  const length = data.readInt32BE(4);
  if (length < 0 || 8 + length > data.length) return 'hdr';
  let raw: Buffer;
  try {
    raw = inflateSync(data.subarray(8, 8 + length), { maxOutputLength: maxBytes });
  } catch (error) {
    return (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? 'hdr-too-big' : 'hdr';
  }
  if (raw.length < HEADER_BYTES || raw.readInt32BE(0) !== V2_ENCODING_COOKIE) return 'hdr';
  const payload = raw.readInt32BE(4);
  if (payload < 0 || HEADER_BYTES + payload > raw.length) return 'hdr';
  if (raw.readInt32BE(12) !== HDR_SIGNIFICANT_DIGITS || raw.readBigInt64BE(16) !== 1n) return 'hdr';
  const highest = Number(raw.readBigInt64BE(24));
  if (!(highest >= 2)) return 'hdr';
  if (!countsFit(raw, HEADER_BYTES, HEADER_BYTES + payload, Math.min(countsLength(highest), MAX_COUNTS))) return 'hdr';
  return raw;
}

/**
 * Whether the payload's ZigZag LEB128 words (a count, or minus a run of zero counts) fill at most
 * `length` counts and end exactly at `end` (the decoding of hdr-histogram-js' ZigZagEncoding).
 */
function countsFit(buf: Buffer, start: number, end: number, length: number): boolean {
  let at = start;
  let filled = 0;
  while (at < end) {
    at = readWord(buf, at, end);
    if (at < 0) return false;
    // Odd: a run of (value + 1) / 2 zero counts (the parity is the first byte's: value may be past 2^53); even: one count,
    // which the library refuses past 2^53 - 1 (its setCountAtIndex throws): refused here, for decodeHdrBlob and addHdrBlob alike.
    if (!word.odd && word.value / 2 > Number.MAX_SAFE_INTEGER) return false;
    filled += word.odd ? (word.value + 1) / 2 : 1;
    if (filled > length) return false;
  }
  return at === end;
}
