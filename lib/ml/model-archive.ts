/**
 * The `model.tar.gz` that SageMaker's built-in XGBoost container expects: a gzip-compressed tar
 * holding one file, `xgboost-model`. Written here rather than by a `tar` binary so that the same model
 * gives the same bytes on every machine: fixed mode, owner and modification time in the tar header,
 * no timestamp and a fixed operating-system byte in the gzip header.
 *
 * One file only, because the container loads every file of the extracted archive as a model and
 * averages their predictions.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/** The one entry of the archive; the container finds the model under this name. */
export const MODEL_ARCHIVE_ENTRY = 'xgboost-model';
/**
 * Part of {@link modelArchiveHash}: change it whenever the archive's layout changes, so that the
 * asset changes with it.
 */
export const MODEL_ARCHIVE_FORMAT = 'sdap-xgboost-model.tar.gz/1';

/** Read and write for the owner, read for the rest: what the container's user needs. */
export const ARCHIVE_FILE_MODE = 0o644;
/** Owner and group ids 0, without names: nothing about the machine that built it. */
export const ARCHIVE_OWNER_ID = 0;
/** The entry's modification time, in seconds since 1970: fixed, not the build's clock. */
export const ARCHIVE_MTIME_SECONDS = 0;

const BLOCK_BYTES = 512;
/** GNU tar and Python's tarfile pad an archive to records of 20 blocks; readers accept either. */
const RECORD_BYTES = 20 * BLOCK_BYTES;
/** The largest size an 11-digit octal field holds (8 GiB - 1). */
const MAX_ENTRY_BYTES = 8 ** 11 - 1;
/** Unix, as GNU gzip writes on Linux; zlib writes its build platform's code otherwise. */
const GZIP_OS_UNIX = 3;
const GZIP_OS_OFFSET = 9;

/** Writes `value` as zero-padded octal digits followed by a NUL into `width` bytes at `offset`. */
function writeOctal(header: Buffer, offset: number, width: number, value: number): void {
  header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'ascii');
}

/**
 * A POSIX ustar archive holding one regular file `name` with `content`, its metadata fixed
 * ({@link ARCHIVE_FILE_MODE}, {@link ARCHIVE_OWNER_ID}, {@link ARCHIVE_MTIME_SECONDS}).
 *
 * @throws Error when the name does not fit the header (1 to 100 ASCII bytes, no slash) or the content
 *   is larger than a ustar size field holds
 */
export function tarOneFile(name: string, content: Uint8Array): Buffer {
  if (!/^[\x21-\x7e]{1,100}$/.test(name) || name.includes('/')) {
    throw new Error(
      `tarOneFile: received name ${JSON.stringify(name)}, expected 1 to 100 printable ASCII characters without '/'`,
    );
  }
  if (content.length > MAX_ENTRY_BYTES) {
    throw new Error(
      `tarOneFile: received ${content.length} bytes, expected at most ${MAX_ENTRY_BYTES} (a ustar size field)`,
    );
  }
  const header = Buffer.alloc(BLOCK_BYTES);
  header.write(name, 0, 100, 'ascii');
  writeOctal(header, 100, 8, ARCHIVE_FILE_MODE);
  writeOctal(header, 108, 8, ARCHIVE_OWNER_ID);
  writeOctal(header, 116, 8, ARCHIVE_OWNER_ID);
  writeOctal(header, 124, 12, content.length);
  writeOctal(header, 136, 12, ARCHIVE_MTIME_SECONDS);
  header.write('0', 156, 1, 'ascii'); // a regular file
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  writeOctal(header, 329, 8, 0); // device numbers, unused for a regular file
  writeOctal(header, 337, 8, 0);
  // The checksum is the byte sum of the header with its own field read as eight spaces.
  header.write(' '.repeat(8), 148, 8, 'ascii');
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');

  const dataBytes = Math.ceil(content.length / BLOCK_BYTES) * BLOCK_BYTES;
  // Header, data padded to whole blocks, then two zero blocks that end the archive.
  const used = BLOCK_BYTES + dataBytes + 2 * BLOCK_BYTES;
  const archive = Buffer.alloc(Math.ceil(used / RECORD_BYTES) * RECORD_BYTES);
  header.copy(archive, 0);
  archive.set(content, BLOCK_BYTES);
  return archive;
}

/**
 * Gzip with the header's time 0 and its operating system fixed to Unix, at the highest compression.
 * The same input gives the same bytes for a given zlib; {@link modelArchiveHash} does not depend on
 * zlib at all.
 */
export function gzipDeterministic(data: Uint8Array): Buffer {
  const gzipped = gzipSync(data, { level: 9 });
  // Node's zlib writes no file name and a zero time; only the OS byte depends on the platform.
  gzipped[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
  return gzipped;
}

/** The `model.tar.gz` of a model saved as XGBoost JSON: `xgboost-model` holding the JSON's bytes. */
export function modelArchive(modelJson: Uint8Array): Buffer {
  return gzipDeterministic(tarOneFile(MODEL_ARCHIVE_ENTRY, modelJson));
}

/**
 * The archive's identity: SHA-256 of {@link MODEL_ARCHIVE_FORMAT} and the model's bytes. Used as the
 * asset hash, so the artefact (and with it the SageMaker model and endpoint configuration) changes
 * when the model or the archive's layout changes, and never because another zlib compressed it.
 */
export function modelArchiveHash(modelJson: Uint8Array): string {
  return createHash('sha256').update(MODEL_ARCHIVE_FORMAT).update('\n').update(modelJson).digest('hex');
}
