/*
 * nanochat_bpe.h -- C ABI of libnanochat_bpe (byte-level BPE for the nanochat
 * Deno port). Training reproduces PyPI rustbpe 0.1.0 merge for merge;
 * encoding reproduces tiktoken's encode_ordinary ids.
 *
 * Conventions
 * - Functions returning int32_t return 0 on success, nonzero on error:
 *     1 = invalid argument, 2 = I/O, 3 = internal error (a caught panic).
 *   The message of the last failed call is returned by bpe_last_error().
 * - No panic crosses the boundary; nothing is printed; the process is never
 *   exited.
 * - Strings are (const uint8_t* ptr, size_t len), UTF-8, not NUL-terminated.
 *   A pointer may be NULL when its length is 0.
 * - Batches of texts: text i = data[offsets[i] .. offsets[i+1]]; offsets has
 *   n_texts + 1 entries and must not decrease (NULL allowed when n_texts == 0).
 * - Output buffers (uint32_t*, uint64_t*, uint8_t*) are allocated by the
 *   library, are never NULL on success (even when empty), and must be released
 *   with the matching bpe_free_* passing the SAME length that was returned.
 *   Passing NULL to a free function does nothing.
 * - Handles: a BpeTokenizer may be used from several threads at once (encode,
 *   decode, queries). A BpeTrainer may be fed from one thread at a time;
 *   bpe_trainer_progress / bpe_trainer_stats may be called from any thread at
 *   any time, including while bpe_trainer_train runs on another thread.
 */
#ifndef NANOCHAT_BPE_H
#define NANOCHAT_BPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct BpeTrainer BpeTrainer;
typedef struct BpeTokenizer BpeTokenizer;

/* Error message (NUL-terminated UTF-8) of whichever ended LAST:
 *  - the calling thread's latest status-returning call: its message if it
 *    failed, "" if it succeeded (valid until this thread's next bpe_* call);
 *  - or a failure on ANY thread that ended after that call. This covers hosts
 *    that run a call on a worker thread and read the error on another (Deno's
 *    `nonblocking: true` symbols): read it right after the failed call's
 *    promise resolves. The last 32 such messages stay allocated, so that
 *    pointer survives up to 31 later failures of other threads.
 * bpe_trainer_progress, bpe_trainer_stats, bpe_vocab_size, bpe_num_ranks and
 * the free functions never change it (polling progress cannot hide an error).
 * Copy the message if you keep it. */
const char* bpe_last_error(void);

/* Size of the thread pool used by training and bpe_encode_batch.
 * 0 = one thread per core (the default). Jobs already running keep the old pool. */
int32_t bpe_set_num_threads(uint32_t n);

/* ---------------------------------------------------------------- training */

/* New trainer with a split pattern (any fancy-regex pattern); pattern_len 0
 * selects nanochat's default pattern (GPT-4's with \p{N}{1,2}), which uses a
 * hand-written scanner proven identical to the regex. Error 1 if the pattern
 * does not compile. */
int32_t bpe_trainer_new(const uint8_t* pattern, size_t pattern_len, BpeTrainer** out);

/* Split and count n_texts texts (in parallel). Invalid UTF-8 in any text is
 * error 1 naming the text; nothing of that batch is counted then. */
int32_t bpe_trainer_feed(BpeTrainer* t, const uint8_t* data, const uint64_t* offsets, size_t n_texts);

/* Train num_ranks ranks (256 byte ranks + num_ranks-256 merges, so
 * num_ranks >= 256) and build a tokenizer whose special tokens are `specials`
 * (names joined by '\n'; empty names are skipped; duplicates are an error),
 * with ids num_ranks + i. Errors (code 1): num_ranks < 256; "no text was fed";
 * fewer merges possible than requested (the message says how many were).
 * The trainer keeps its counts: it can be trained again or fed more. */
int32_t bpe_trainer_train(BpeTrainer* t, uint32_t num_ranks, const uint8_t* specials, size_t specials_len,
                          BpeTokenizer** out);

/* Merges done / merges requested by the current (or last) bpe_trainer_train;
 * 0/0 before training. Either output pointer may be NULL. */
void bpe_trainer_progress(const BpeTrainer* t, uint64_t* done, uint64_t* total);

/* Writes [texts, bytes, unique_chunks, total_chunks] fed so far into out4[0..4].
 * Returns 4 (the number of values written), or 0 if t or out4 is NULL. */
uint64_t bpe_trainer_stats(const BpeTrainer* t, uint64_t* out4);

void bpe_trainer_free(BpeTrainer* t);

/* ---------------------------------------------------------------- tokenizer */

/* Load dir/tokenizer.tiktoken + dir/tokenizer.json (as written by
 * bpe_tokenizer_save). Code 2 for a missing/unreadable file, 1 for bad
 * contents (message names the file and line). */
int32_t bpe_tokenizer_load(const uint8_t* dir, size_t dir_len, BpeTokenizer** out);

/* Build from the contents of a tiktoken rank file (e.g. GPT-2 / GPT-4 ones),
 * a pattern (pattern_len 0 = default) and '\n'-joined specials (ids
 * n_ranks + i). Ranks must be 0..N-1 without gaps or repeats, token bytes
 * distinct, and every single byte must have a rank. */
int32_t bpe_tokenizer_from_ranks(const uint8_t* tiktoken_file_bytes, size_t len, const uint8_t* pattern,
                                 size_t pattern_len, const uint8_t* specials, size_t specials_len,
                                 BpeTokenizer** out);

/* Write dir/tokenizer.tiktoken (`base64(token bytes) rank` per line, ranks
 * 0..N-1) and dir/tokenizer.json ({"pattern", "special_tokens": {name: id},
 * "num_ranks"}), each via a temp file + rename. Creates dir if needed. */
int32_t bpe_tokenizer_save(const BpeTokenizer* tok, const uint8_t* dir, size_t dir_len);

void bpe_tokenizer_free(BpeTokenizer* tok);

/* Ranks + specials (0 for NULL). */
uint32_t bpe_vocab_size(const BpeTokenizer* tok);
/* Ranks only (0 for NULL). */
uint32_t bpe_num_ranks(const BpeTokenizer* tok);

/* Id of a special token by name; error 1 if it is not one. */
int32_t bpe_special_id(const BpeTokenizer* tok, const uint8_t* name, size_t len, uint32_t* out_id);

/* --------------------------------------------------------- encode / decode */

/* encode_ordinary semantics: special token names in the text are plain text.
 * Invalid UTF-8 is error 1. Free *out_ids with bpe_free_u32(*out_ids, *out_len). */
int32_t bpe_encode(const BpeTokenizer* tok, const uint8_t* text, size_t len, uint32_t** out_ids, size_t* out_len);

/* Encode n_texts texts in parallel. Ids of text i are
 * (*out_ids)[(*out_offsets)[i] .. (*out_offsets)[i+1]]; *out_offsets has
 * n_texts + 1 entries. Free with bpe_free_u32(*out_ids, *out_len) and
 * bpe_free_u64(*out_offsets, n_texts + 1). */
int32_t bpe_encode_batch(const BpeTokenizer* tok, const uint8_t* data, const uint64_t* offsets, size_t n_texts,
                         uint32_t** out_ids, size_t* out_len, uint64_t** out_offsets);

/* Raw bytes of the ids concatenated (a special id yields its name's bytes);
 * may be invalid UTF-8 when cut mid-character. Error 1 names the first id out
 * of range and the vocab size. Free with bpe_free_bytes(*out_bytes, *out_len). */
int32_t bpe_decode(const BpeTokenizer* tok, const uint32_t* ids, size_t n, uint8_t** out_bytes, size_t* out_len);

/* out[id] = byte length of rank id, 0 for specials; n must equal the vocab size. */
int32_t bpe_token_bytes(const BpeTokenizer* tok, uint32_t* out, size_t n);

/* The split pattern (UTF-8). Free with bpe_free_bytes(*out_bytes, *out_len). */
int32_t bpe_pattern(const BpeTokenizer* tok, uint8_t** out_bytes, size_t* out_len);

void bpe_free_u32(uint32_t* p, size_t len);
void bpe_free_u64(uint64_t* p, size_t len);
void bpe_free_bytes(uint8_t* p, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* NANOCHAT_BPE_H */
