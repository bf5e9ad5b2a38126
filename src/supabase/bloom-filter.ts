/**
 * A Bloom filter of user ids: finding orphaned profiles over the Supabase API means knowing which
 * ids exist among possibly millions, without holding the ids. "Not in the filter" is certain; "in
 * the filter" may be wrong about 1% of the time, and a fresh seed each pass catches those later.
 */
import { createHash, randomBytes } from 'node:crypto';

export class BloomFilter {
  readonly #bits: Uint8Array;
  readonly #hashes: number;
  readonly #seed: Buffer;

  /** Sized for `expected` items at about a 1% false-positive rate. */
  constructor(expected: number) {
    const bits = Math.max(1024, Math.ceil((-Math.max(expected, 1) * Math.log(0.01)) / Math.LN2 ** 2));
    this.#bits = new Uint8Array(Math.ceil(bits / 8));
    this.#hashes = 7;
    this.#seed = randomBytes(8);
  }

  #positions(item: string): number[] {
    const digest = createHash('sha256').update(this.#seed).update(item).digest();
    const size = this.#bits.length * 8;
    const h1 = digest.readUInt32BE(0);
    const h2 = digest.readUInt32BE(4) | 1;
    return Array.from({ length: this.#hashes }, (_, i) => (h1 + i * h2) % size);
  }

  add(item: string): void {
    for (const position of this.#positions(item)) this.#bits[position >> 3]! |= 1 << (position & 7);
  }

  mightContain(item: string): boolean {
    return this.#positions(item).every((position) => (this.#bits[position >> 3]! & (1 << (position & 7))) !== 0);
  }
}
