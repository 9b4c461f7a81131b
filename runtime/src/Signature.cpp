//===- Signature.cpp - signed artifacts ---------------------------------------===//
//
// docs/artifact.md, "Signatures". A signed artifact ends with a signature
// section: the signer's Ed25519 public key, its signature, and a BLAKE2b-256
// hash of every checksum chunk of every blob. The signature covers the
// header, the table and that hash list; the hashes cover the blobs, and are
// checked with the checksums (Verification.cpp: at load, or before a
// weight's first use). So with a trusted key nothing in an artifact is used
// before it is known to be what the key's holder signed: re-sealing the
// checksums after an edit does not help, the signature fails.
//
//===----------------------------------------------------------------------===//
#include "Model.h"

#include "moert/format.h"

#include <algorithm>
#include <cstring>
#include <sodium.h>

namespace moert::rt {

namespace {
std::string hexKey(const uint8_t *key) {
  std::string text = formatKeyText(kPublicKeyLabel, key, 32);
  return text.substr(text.find(' ') + 1, 64);
}
} // namespace

Status Model::checkSignature() {
  signed_ = false;
  if (policy_.requireSignature && policy_.trustedKeys.empty())
    return error(MOERT_INVALID_ARGUMENT,
                 "a signature is required, but no key is trusted (give one: "
                 "trusted_keys in the load options, moe-run --trusted-key)");
  if (signatureSize_ == 0) {
    if (policy_.requireSignature)
      return error(MOERT_INVALID_ARTIFACT,
                   "the artifact is not signed, and a signature by a trusted "
                   "key is required (sign it with moe-compile --sign)");
    return Status();
  }
  if (sodium_init() < 0)
    return error(MOERT_INTERNAL, "libsodium failed to initialize");
  SignatureHead head;
  if (signatureSize_ < sizeof head)
    return error(MOERT_INVALID_ARTIFACT, "the signature section is ",
                 signatureSize_, " bytes, smaller than its ", sizeof head,
                 "-byte head");
  std::memcpy(&head, map_ + signatureOffset_, sizeof head);
  if (std::memcmp(head.magic, kSignatureMagic, sizeof head.magic) != 0)
    return error(MOERT_INVALID_ARTIFACT,
                 "the signature section has a bad magic (expected \"MOESIG01\")");
  uint64_t hashBytes = signatureSize_ - sizeof head;
  if (hashBytes % kBlobHashBytes != 0 ||
      head.hash_count != hashBytes / kBlobHashBytes)
    return error(MOERT_INVALID_ARTIFACT, "the signature section holds ",
                 hashBytes, " bytes of hashes for hash_count ", head.hash_count);
  PublicKey key;
  std::memcpy(key.data(), head.public_key, key.size());
  // Without trusted keys the signature still proves the artifact intact (as
  // the signer wrote it), not who the signer is.
  if (!policy_.trustedKeys.empty() &&
      std::find(policy_.trustedKeys.begin(), policy_.trustedKeys.end(), key) ==
          policy_.trustedKeys.end())
    return error(MOERT_INVALID_ARTIFACT, "the artifact is signed by key ",
                 hexKey(key.data()), ", which is not trusted");
  uint8_t digest[crypto_generichash_BYTES_MAX];
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof digest);
  FileHeader header;
  std::memcpy(&header, map_, sizeof header);
  forEachSignedPiece(header, map_ + tableOffset_, tableSize_,
                     map_ + signatureOffset_ + sizeof head, hashBytes,
                     [&](const void *p, uint64_t n) {
                       crypto_generichash_update(
                           &state, static_cast<const uint8_t *>(p), n);
                     });
  crypto_generichash_final(&state, digest, sizeof digest);
  if (crypto_sign_verify_detached(head.signature, digest, sizeof digest,
                                  head.public_key) != 0)
    return error(MOERT_INVALID_ARTIFACT,
                 "the signature does not verify: the artifact was changed "
                 "after it was signed");
  signer_ = key;
  signed_ = true;
  return Status();
}

Status Model::attachBlobHashes() {
  if (!signed_)
    return Status();
  const uint8_t *hashes = map_ + signatureOffset_ + sizeof(SignatureHead);
  uint64_t count = (signatureSize_ - sizeof(SignatureHead)) / kBlobHashBytes;
  uint64_t next = 0;
  auto take = [&](uint64_t chunks, const uint8_t **out) {
    *out = next + chunks <= count ? hashes + next * kBlobHashBytes : nullptr;
    next += chunks;
  };
  for (CodeObjectSpec &c : codeObjects_)
    take(c.checksums.size(), &c.hashes);
  for (WeightSpec &w : weights_)
    if (!w.synthetic)
      take(w.checksums.size(), &w.hashes);
  if (next != count)
    return error(MOERT_INVALID_ARTIFACT, "the signature section holds ", count,
                 " blob hashes, but the blobs have ", next, " checksum chunks");
  return Status();
}

} // namespace moert::rt
