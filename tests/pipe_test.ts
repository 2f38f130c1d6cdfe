import { STREAM_SIZES, testTransfers } from "./_transfers.ts";

const MiB = 1024 * 1024;

testTransfers("pipe", [
  ...STREAM_SIZES.map((size) => ({ size })),
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1 })),
  ...[4096, 65536, MiB].flatMap((chunk) => [{ size: 65537, chunk }, { size: MiB + 13, chunk }]),
]);
