#ifndef FLUXCI_CGIT2_SHIM_H
#define FLUXCI_CGIT2_SHIM_H
#include <git2.h>

/// git_libgit2_opts is variadic, which Swift cannot call: one wrapper per option used.
static inline int fluxci_git_set_search_path_empty(int level) {
    return git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
}
/// GIT_OPT_SET_OWNER_VALIDATION came with libgit2 1.5; the release build on the oldest Ubuntu
/// runner (22.04) has libgit2 1.1, which validates no owner at all: nothing to switch there.
static inline int fluxci_git_set_owner_validation(int enabled) {
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 5)
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, enabled);
#else
    (void)enabled;
    return 0;
#endif
}
#endif
