//! Raw DEFLATE decoding and SHA-256 for the artifact reader, as a Node-API addon.
//!
//! Why: inflating is most of the cost of verifying a large artifact, and zlib-rs (a
//! memory-safe Rust port of zlib, through flate2) inflates faster than the zlib bundled with
//! Node on some machines, while accepting and rejecting exactly the streams zlib does.
//! The caller owns every buffer: outputs are allocated by JavaScript at the size the archive
//! declares (already checked against the limits), so nothing here allocates per entry beyond
//! zlib's own state, which is reused per thread. The small entries of an artifact are inflated
//! in one call (one crossing into native code instead of one per entry), and the integrity
//! digest of a large entry can run on libuv's thread pool, reading the entry where it is,
//! while the JavaScript thread computes the payload hash.

use std::cell::RefCell;
use std::collections::HashMap;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use flate2::{Decompress, FlushDecompress, Status};
use napi::bindgen_prelude::{AsyncTask, Uint32ArraySlice, Uint8Array, Uint8ArraySlice};
use napi::{Env, Task};
use napi_derive::napi;
use sha2::{Digest, Sha256};

thread_local! {
    static DECOMPRESSOR: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// What one call did. `status` is "end" (the stream ended), "full" (the output was filled
/// before the stream ended), "truncated" (the input ran out first) or "error" (not DEFLATE).
#[napi(object)]
pub struct InflateOutcome {
    pub status: String,
    pub consumed: f64,
    pub produced: f64,
    pub message: Option<String>,
}

fn overlaps(input: &[u8], output: &[u8]) -> bool {
    let (start, end) = (output.as_ptr(), output.as_ptr().wrapping_add(output.len()));
    let input_range = input.as_ptr_range();
    !input.is_empty() && start != end && input_range.start < end && start < input_range.end
}

/// Inflates the raw DEFLATE stream `input` into `output` (two Uint8Arrays), in one call.
/// Buffers that share memory are refused: the output would overwrite the input mid-decode.
#[napi]
pub fn inflate_raw(
    input: Uint8ArraySlice<'_>,
    mut output: Uint8ArraySlice<'_>,
) -> napi::Result<InflateOutcome> {
    let input: &[u8] = &input;
    if overlaps(input, &output) {
        return Err(napi::Error::from_reason("input and output buffers overlap"));
    }
    // SAFETY: this function runs synchronously on the JavaScript thread that owns both
    // arrays, so no JavaScript can read or write them while the slice lives, and the one other
    // view held here, `input`, does not overlap it (checked just above).
    let output: &mut [u8] = unsafe { output.as_mut() };
    Ok(DECOMPRESSOR.with(|cell| {
        let mut inflater = cell.borrow_mut();
        inflater.reset(false);
        let result = inflater.decompress(input, output, FlushDecompress::Finish);
        let consumed = inflater.total_in() as f64;
        let produced = inflater.total_out() as f64;
        let (status, message) = match result {
            Ok(Status::StreamEnd) => ("end", None),
            Ok(_) if inflater.total_out() as usize == output.len() => ("full", None),
            Ok(_) => ("truncated", None),
            Err(error) => (
                "error",
                Some(
                    error
                        .message()
                        .unwrap_or("invalid deflate stream")
                        .to_string(),
                ),
            ),
        };
        InflateOutcome {
            status: status.to_string(),
            consumed,
            produced,
            message,
        }
    }))
}

/// Inflates several raw DEFLATE streams of `input` in one call. `plan` holds four numbers per
/// stream: input start, input end, output start, declared size; stream i is inflated into
/// `output[start .. start + size + 1]`, one byte of room past its declared size, as
/// inflate_raw is given (the next stream's window may begin on that byte: streams are inflated
/// in order). Returns how many streams, from the first, ended exactly at their input end
/// having produced exactly their declared size; it stops at the first that did not, which the
/// caller runs again through inflate_raw to learn why.
#[napi]
pub fn inflate_raw_batch(
    input: Uint8ArraySlice<'_>,
    plan: Uint32ArraySlice<'_>,
    mut output: Uint8ArraySlice<'_>,
) -> napi::Result<u32> {
    let input: &[u8] = &input;
    if overlaps(input, &output) {
        return Err(napi::Error::from_reason("input and output buffers overlap"));
    }
    if !plan.len().is_multiple_of(4) {
        return Err(napi::Error::from_reason(
            "plan length is not a multiple of 4",
        ));
    }
    // A copy: JavaScript could hand over a plan that shares memory with the output, which the
    // windows below would then rewrite after they were checked.
    let plan: Vec<u32> = plan.to_vec();
    // Every window is checked before anything is written.
    for row in plan.chunks_exact(4) {
        let [start, end, at, size] = [row[0], row[1], row[2], row[3]].map(|v| v as usize);
        let window_end = at.checked_add(size).and_then(|v| v.checked_add(1));
        if start > end || end > input.len() || window_end.is_none_or(|e| e > output.len()) {
            return Err(napi::Error::from_reason(
                "plan names bytes outside the buffers",
            ));
        }
    }
    // SAFETY: as in inflate_raw: synchronous, on the thread that owns both arrays, and the
    // input does not overlap the output (checked above).
    let output: &mut [u8] = unsafe { output.as_mut() };
    Ok(DECOMPRESSOR.with(|cell| {
        let mut inflater = cell.borrow_mut();
        let mut done = 0u32;
        for row in plan.chunks_exact(4) {
            let [start, end, at, size] = [row[0], row[1], row[2], row[3]].map(|v| v as usize);
            inflater.reset(false);
            let result = inflater.decompress(
                &input[start..end],
                &mut output[at..at + size + 1],
                FlushDecompress::Finish,
            );
            let exact = matches!(result, Ok(Status::StreamEnd))
                && inflater.total_out() == size as u64
                && inflater.total_in() == (end - start) as u64;
            if !exact {
                break;
            }
            done += 1;
        }
        done
    }))
}

/// A SHA-256 computation JavaScript feeds piece by piece: the payload hash of an artifact, into
/// which inflate_raw_sha256_into streams a large entry from its hashing thread.
#[napi]
pub struct Sha256Stream {
    inner: Sha256,
}

#[napi]
impl Sha256Stream {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Sha256Stream {
            inner: Sha256::new(),
        }
    }

    #[napi]
    pub fn update(&mut self, data: Uint8ArraySlice<'_>) {
        self.inner.update(&data[..]);
    }

    /// The digest (lower-case hex) of everything fed so far; the stream starts over.
    #[napi]
    pub fn digest_hex(&mut self) -> String {
        hex(&self.inner.finalize_reset())
    }
}

/// Inflates the raw DEFLATE stream `input` into `output`, as inflate_raw does, while another
/// thread computes the SHA-256 of what it has inflated so far: a large entry's integrity digest
/// then costs no time of its own beside the inflating (which takes longer than hashing). The
/// output is inflated `chunk` bytes at a time; each finished chunk is handed to the hashing
/// thread, which reads only bytes the inflater has finished writing and will not touch again.
/// Returns the digest (lower-case hex) when the stream ended exactly at the end of `input`
/// having filled all of `output` but its last byte (the room inflate_raw leaves past the
/// declared size), and nothing otherwise: the caller runs inflate_raw to learn why.
#[napi]
pub fn inflate_raw_sha256(
    input: Uint8ArraySlice<'_>,
    output: Uint8ArraySlice<'_>,
    chunk: u32,
) -> napi::Result<Option<String>> {
    inflate_hashing(input, output, chunk, None)
}

/// inflate_raw_sha256, the hashing thread also feeding the inflated bytes into `payload`; when
/// the result is nothing, `payload` is left as it was.
#[napi]
pub fn inflate_raw_sha256_into(
    input: Uint8ArraySlice<'_>,
    output: Uint8ArraySlice<'_>,
    chunk: u32,
    payload: &mut Sha256Stream,
) -> napi::Result<Option<String>> {
    inflate_hashing(input, output, chunk, Some(&mut payload.inner))
}

fn inflate_hashing(
    input: Uint8ArraySlice<'_>,
    mut output: Uint8ArraySlice<'_>,
    chunk: u32,
    payload: Option<&mut Sha256>,
) -> napi::Result<Option<String>> {
    let input: &[u8] = &input;
    if overlaps(input, &output) {
        return Err(napi::Error::from_reason("input and output buffers overlap"));
    }
    let chunk = (chunk as usize).max(1);
    let length = output.len();
    // SAFETY: as in inflate_raw (synchronous, on the thread that owns both arrays, no overlap).
    // The slice is only turned into a pointer here; the windows below are disjoint views of it.
    let out = unsafe { output.as_mut() }.as_mut_ptr();
    let address = out as usize;
    // The hashing thread works on a copy of the payload state, kept only if all goes well.
    let continued = payload.as_deref().cloned();
    let (ready, finished) = std::sync::mpsc::channel::<usize>();
    let (exact, produced, hashed) = std::thread::scope(|scope| {
        let hashing = std::thread::Builder::new().spawn_scoped(scope, move || {
            let mut continued = continued;
            let mut sha = Sha256::new();
            let mut hashed = 0;
            for written in finished {
                // SAFETY: bytes hashed..written were written by the inflating thread before it
                // sent `written` (the channel orders those writes before this read), and it
                // never writes below `written` again: its windows start there.
                let bytes = unsafe {
                    std::slice::from_raw_parts((address as *const u8).add(hashed), written - hashed)
                };
                sha.update(bytes);
                if let Some(state) = continued.as_mut() {
                    state.update(bytes);
                }
                hashed = written;
            }
            (sha.finalize(), continued)
        });
        let (ended, produced, consumed) = DECOMPRESSOR.with(|cell| {
            let mut inflater = cell.borrow_mut();
            inflater.reset(false);
            let (mut produced, mut consumed) = (0usize, 0usize);
            loop {
                let end = length.min(produced + chunk);
                // SAFETY: produced..end lies inside the output, and nothing else views it: the
                // hashing thread reads only below `produced`.
                let window =
                    unsafe { std::slice::from_raw_parts_mut(out.add(produced), end - produced) };
                let result = inflater.decompress(&input[consumed..], window, FlushDecompress::None);
                produced = inflater.total_out() as usize;
                consumed = inflater.total_in() as usize;
                match result {
                    Ok(Status::StreamEnd) => return (true, produced, consumed),
                    // The window was filled: go on while there is room, else the stream is
                    // longer than the output ("full" for inflate_raw).
                    Ok(_) if produced == end && end < length => {
                        if hashing.is_ok() {
                            let _ = ready.send(produced);
                        }
                    }
                    // Truncated, too long, or not DEFLATE.
                    _ => return (false, produced, consumed),
                }
            }
        });
        let exact = ended && consumed == input.len() && produced + 1 == length;
        if exact {
            let _ = ready.send(produced);
        }
        drop(ready);
        // No second thread to be had (spawning failed): nothing was hashed yet.
        let hashed = hashing.ok().and_then(|thread| thread.join().ok());
        (exact, produced, hashed)
    });
    if !exact {
        return Ok(None);
    }
    let (digest, continued) = match hashed {
        Some(result) => result,
        None => {
            // SAFETY: inflating is over; nothing else views the output.
            let bytes = unsafe { std::slice::from_raw_parts(out as *const u8, produced) };
            let continued = payload.as_deref().cloned().map(|mut state| {
                state.update(bytes);
                state
            });
            (Sha256::digest(bytes), continued)
        }
    };
    if let (Some(state), Some(continued)) = (payload, continued) {
        *state = continued;
    }
    Ok(Some(hex(&digest)))
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    text
}

/// The SHA-256 of each range of `data`: `ranges` holds a start and an end per range; the
/// digests are written one after another (32 bytes each) into `out`, which the caller keeps
/// and reuses (a buffer made here would cost more than hashing a small artifact's entries).
/// One call for the payload hash and the digests of an artifact's small entries, instead of
/// one into node:crypto for each.
#[napi]
pub fn sha256_ranges(
    data: Uint8ArraySlice<'_>,
    ranges: Uint32ArraySlice<'_>,
    mut out: Uint8ArraySlice<'_>,
) -> napi::Result<()> {
    if !ranges.len().is_multiple_of(2) {
        return Err(napi::Error::from_reason(
            "ranges length is not a multiple of 2",
        ));
    }
    if out.len() < ranges.len() * 16 {
        return Err(napi::Error::from_reason("out is too small for the digests"));
    }
    if overlaps(&data[..], &out) {
        return Err(napi::Error::from_reason("data and out buffers overlap"));
    }
    // A copy, as in inflate_raw_batch: the ranges must not change as the digests are written.
    let ranges: Vec<u32> = ranges.to_vec();
    // SAFETY: synchronous, on the thread that owns both arrays; `data` does not overlap `out`
    // and the ranges are a copy.
    let out: &mut [u8] = unsafe { out.as_mut() };
    for (range, digest) in ranges.chunks_exact(2).zip(out.chunks_exact_mut(32)) {
        let (start, end) = (range[0] as usize, range[1] as usize);
        let Some(bytes) = data.get(start..end) else {
            return Err(napi::Error::from_reason("a range runs outside the data"));
        };
        digest.copy_from_slice(&Sha256::digest(bytes));
    }
    Ok(())
}

/// SHA-256 of a buffer on libuv's thread pool; resolves to lower-case hex.
pub struct Sha256Hex {
    data: Uint8Array,
}

impl Task for Sha256Hex {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        Ok(hex(&Sha256::digest(&self.data[..])))
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}

/// The SHA-256 of `data`, computed on the thread pool without copying it: the caller must not
/// write to `data` until the promise settles (the artifact reader's own entry buffers, which it
/// hands out only after every digest is in).
#[napi]
pub fn sha256_hex_async(data: Uint8Array) -> AsyncTask<Sha256Hex> {
    AsyncTask::new(Sha256Hex { data })
}

/// Most keys the cache below holds: a trust store holds a handful, so this is never reached in
/// practice; past it the cache starts over rather than grow.
const VERIFYING_KEY_CACHE_LIMIT: usize = 256;

thread_local! {
    /// Decoded public keys by their bytes. Decoding a key (a square root in the field) is about
    /// a sixth of a verification, and a cluster verifies against the same few keys again and
    /// again. The entry is a pure function of the bytes, so caching changes no answer.
    static VERIFYING_KEYS: RefCell<HashMap<[u8; 32], VerifyingKey>> = RefCell::new(HashMap::new());
}

/// Ed25519 verification exactly as the reference crate (palyra-skills) does it: ed25519-dalek's
/// `VerifyingKey::from_bytes` then `Verifier::verify`, that is RFC 8032's cofactorless equation
/// [S]B = R + [k]A checked by comparing encodings, S < L required, small-order R and A and
/// non-canonical A encodings not refused here (the caller refuses such keys before it gets
/// here). False for any malformed input (wrong lengths, a key that is not a curve point).
#[napi]
pub fn ed25519_verify(
    public_key: Uint8ArraySlice<'_>,
    message: Uint8ArraySlice<'_>,
    signature: Uint8ArraySlice<'_>,
) -> bool {
    let (Ok(key), Ok(signature)) = (
        <[u8; 32]>::try_from(&public_key[..]),
        <[u8; 64]>::try_from(&signature[..]),
    ) else {
        return false;
    };
    let signature = Signature::from_bytes(&signature);
    VERIFYING_KEYS.with(|cell| {
        let mut keys = cell.borrow_mut();
        let verifying_key = match keys.get(&key) {
            Some(verifying_key) => *verifying_key,
            None => {
                let Ok(verifying_key) = VerifyingKey::from_bytes(&key) else {
                    return false;
                };
                if keys.len() >= VERIFYING_KEY_CACHE_LIMIT {
                    keys.clear();
                }
                keys.insert(key, verifying_key);
                verifying_key
            }
        };
        drop(keys);
        verifying_key.verify(&message, &signature).is_ok()
    })
}
