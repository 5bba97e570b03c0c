#ifndef FLUXCI_CGIT2_SHIM_H
#define FLUXCI_CGIT2_SHIM_H
#include <git2.h>

/// git_libgit2_opts is variadic, which Swift cannot call: one wrapper per option used.
static inline int fluxci_git_set_search_path_empty(int level) {
    return git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
}
static inline int fluxci_git_set_owner_validation(int enabled) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, enabled);
}
#endif
