#ifndef FLUXCI_CGPGME_SHIM_H
#define FLUXCI_CGPGME_SHIM_H
#include <gpgme.h>

/// gpgme_check_version is a macro that also initialises the library's subsystems; without
/// calling it gpgme_new fails with "Not operational".
static inline const char *fluxci_gpgme_check_version(const char *required) {
    return gpgme_check_version(required);
}
#endif
