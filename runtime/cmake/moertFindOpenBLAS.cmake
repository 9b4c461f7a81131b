# Finds OpenBLAS's CBLAS interface and defines the imported target
# OpenBLAS::OpenBLAS (unless it already exists, as newer OpenBLAS packages
# define it). Used both when building libmoert and by the installed
# moertConfig.cmake, so a consumer resolves the same dependency.
#
# Sets MOERT_OPENBLAS_FOUND, MOERT_OPENBLAS_INCLUDE_DIR, MOERT_OPENBLAS_LIBRARY.
include_guard(GLOBAL)

set(MOERT_OPENBLAS_FOUND FALSE)
if(TARGET OpenBLAS::OpenBLAS)
  set(MOERT_OPENBLAS_FOUND TRUE)
  return()
endif()

# Debian's libopenblas-dev ships OpenBLASConfig.cmake with the include
# directory and library of the selected variant (pthread, openmp or serial).
find_package(OpenBLAS CONFIG QUIET)
if(OpenBLAS_FOUND AND OpenBLAS_INCLUDE_DIRS AND OpenBLAS_LIBRARIES)
  list(GET OpenBLAS_INCLUDE_DIRS 0 _moert_ob_inc)
  list(GET OpenBLAS_LIBRARIES 0 _moert_ob_lib)
  if(EXISTS "${_moert_ob_inc}/cblas.h" AND EXISTS "${_moert_ob_lib}")
    set(MOERT_OPENBLAS_INCLUDE_DIR "${_moert_ob_inc}" CACHE PATH "Directory holding OpenBLAS's cblas.h")
    set(MOERT_OPENBLAS_LIBRARY "${_moert_ob_lib}" CACHE FILEPATH "The OpenBLAS library")
  endif()
endif()

# Otherwise search the usual places; prefer OpenBLAS's own cblas.h (it
# declares openblas_set_num_threads) over the reference one.
find_path(MOERT_OPENBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas-pthread openblas openblas-openmp openblas-serial
  DOC "Directory holding OpenBLAS's cblas.h")
find_library(MOERT_OPENBLAS_LIBRARY NAMES openblas openblasp openblas64
  PATH_SUFFIXES openblas-pthread openblas-openmp openblas-serial
  DOC "The OpenBLAS library")

if(MOERT_OPENBLAS_INCLUDE_DIR AND MOERT_OPENBLAS_LIBRARY)
  set(MOERT_OPENBLAS_FOUND TRUE)
  add_library(OpenBLAS::OpenBLAS UNKNOWN IMPORTED)
  set_target_properties(OpenBLAS::OpenBLAS PROPERTIES
    IMPORTED_LOCATION "${MOERT_OPENBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${MOERT_OPENBLAS_INCLUDE_DIR}")
endif()
