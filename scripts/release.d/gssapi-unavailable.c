/*
 * The GSSAPI functions Debian's libgit2.a calls, for the release binary, which links libgit2
 * statically: Debian builds libgit2 with GSSAPI (HTTP "Negotiate", i.e. Kerberos/SPNEGO
 * authentication) but ships no static libgssapi_krb5, and the shared one is not on a bare
 * Debian. libgit2 reaches these only when a git server offers Negotiate (GitHub, GitLab and
 * Gitea do not); each then reports that Kerberos is not in this binary, through the error path
 * libgit2 1.5 takes for any GSSAPI failure (transports/auth_negotiate.c). Types follow RFC 2744's
 * C bindings (gssapi.h), declared here so that the build needs no Kerberos headers.
 */
#include <stddef.h>
#include <stdint.h>

typedef uint32_t OM_uint32;
typedef struct { OM_uint32 length; void *elements; } gss_OID_desc;
typedef struct { size_t length; void *value; } gss_buffer_desc;

#define GSS_S_COMPLETE 0u
#define GSS_S_UNAVAILABLE (16u << 16)

static gss_OID_desc hostbased_service = { 10, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04" };
gss_OID_desc *GSS_C_NT_HOSTBASED_SERVICE = &hostbased_service;

static const char message[] = "Kerberos (GSSAPI) is not built into the fluxci release binary; build fluxci from source for Negotiate authentication";

OM_uint32 gss_indicate_mechs(OM_uint32 *minor, void **mech_set) {
    if (minor) *minor = 0;
    if (mech_set) *mech_set = NULL;
    return GSS_S_UNAVAILABLE;
}
OM_uint32 gss_import_name(OM_uint32 *minor, void *input, void *type, void **output) {
    (void)input; (void)type;
    if (minor) *minor = 0;
    if (output) *output = NULL;
    return GSS_S_UNAVAILABLE;
}
OM_uint32 gss_init_sec_context(OM_uint32 *minor, void *cred, void **context, void *target, void *mech,
                               OM_uint32 flags, OM_uint32 time, void *bindings, void *input, void **actual_mech,
                               gss_buffer_desc *output, OM_uint32 *ret_flags, OM_uint32 *time_rec) {
    (void)cred; (void)context; (void)target; (void)mech; (void)flags; (void)time; (void)bindings; (void)input;
    if (minor) *minor = 0;
    if (actual_mech) *actual_mech = NULL;
    if (output) { output->length = 0; output->value = NULL; }
    if (ret_flags) *ret_flags = 0;
    if (time_rec) *time_rec = 0;
    return GSS_S_UNAVAILABLE;
}
OM_uint32 gss_delete_sec_context(OM_uint32 *minor, void **context, gss_buffer_desc *output) {
    if (minor) *minor = 0;
    if (context) *context = NULL;
    if (output) { output->length = 0; output->value = NULL; }
    return GSS_S_COMPLETE;
}
OM_uint32 gss_display_status(OM_uint32 *minor, OM_uint32 status, int type, void *mech, OM_uint32 *more,
                             gss_buffer_desc *text) {
    (void)status; (void)type; (void)mech;
    if (minor) *minor = 0;
    if (more) *more = 0;
    if (text) { text->length = sizeof message - 1; text->value = (void *)message; }
    return GSS_S_COMPLETE;
}
/* The one buffer handed out is the static message: nothing to free. */
OM_uint32 gss_release_buffer(OM_uint32 *minor, gss_buffer_desc *buffer) {
    if (minor) *minor = 0;
    if (buffer) { buffer->length = 0; buffer->value = NULL; }
    return GSS_S_COMPLETE;
}
OM_uint32 gss_release_name(OM_uint32 *minor, void **name) {
    if (minor) *minor = 0;
    if (name) *name = NULL;
    return GSS_S_COMPLETE;
}
OM_uint32 gss_release_oid_set(OM_uint32 *minor, void **set) {
    if (minor) *minor = 0;
    if (set) *set = NULL;
    return GSS_S_COMPLETE;
}
