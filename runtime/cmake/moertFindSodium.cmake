# Finds libsodium (signed artifacts: Ed25519 signatures and BLAKE2b hashes)
# and defines the imported target moert::Sodium. Used both when building
# libmoert and by the installed moertConfig.cmake.
#
# Sets MOERT_SODIUM_FOUND, MOERT_SODIUM_INCLUDE_DIR, MOERT_SODIUM_LIBRARY.
# No include_guard: each including directory needs MOERT_SODIUM_FOUND in
# its own scope (the imported target is global and made once).

set(MOERT_SODIUM_FOUND FALSE)
find_path(MOERT_SODIUM_INCLUDE_DIR sodium.h DOC "Directory holding sodium.h")
find_library(MOERT_SODIUM_LIBRARY NAMES sodium DOC "The libsodium library")
if(MOERT_SODIUM_INCLUDE_DIR AND MOERT_SODIUM_LIBRARY)
  set(MOERT_SODIUM_FOUND TRUE)
  if(NOT TARGET moert::Sodium)
    add_library(moert::Sodium UNKNOWN IMPORTED GLOBAL)
    set_target_properties(moert::Sodium PROPERTIES
      IMPORTED_LOCATION "${MOERT_SODIUM_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${MOERT_SODIUM_INCLUDE_DIR}")
  endif()
endif()
