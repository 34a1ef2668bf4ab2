// libpcap opened on first use: see include/CPcap.h.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "CPcap.h"

// Every function the tap uses, as return type, name, parameters, arguments.
//
// The opening calls come first: they open libpcap when it is not yet, and without it fail as libpcap's own failures
// do (the value given last); the two with an error buffer put the reason there.
#define CPCAP_OPENING_WITH_BUFFER(X)                                                                                  \
    X(pcap_t *, pcap_create, (const char *s, char *e), (s, e), NULL)                                                  \
    X(pcap_t *, pcap_open_offline_with_tstamp_precision, (const char *s, u_int r, char *e), (s, r, e), NULL)

#define CPCAP_OPENING(X)                                                                                              \
    X(pcap_t *, pcap_open_dead, (int l, int n), (l, n), NULL)                                                         \
    X(const char *, pcap_statustostr, (int n), (n), "libpcap is not loaded")

// The rest take a handle or a program that an opening call made, so libpcap is there: they call it straight away,
// with no check on the way (pcap_next_ex and pcap_offline_filter run once a packet).
#define CPCAP_GIVEN_A_HANDLE(X)                                                                                       \
    X(int, pcap_setnonblock, (pcap_t * p, int n, char *e), (p, n, e))                                                 \
    X(int, pcap_activate, (pcap_t * p), (p))                                                                          \
    X(int, pcap_set_snaplen, (pcap_t * p, int n), (p, n))                                                             \
    X(int, pcap_set_promisc, (pcap_t * p, int n), (p, n))                                                             \
    X(int, pcap_set_immediate_mode, (pcap_t * p, int n), (p, n))                                                      \
    X(int, pcap_set_timeout, (pcap_t * p, int n), (p, n))                                                             \
    X(int, pcap_set_buffer_size, (pcap_t * p, int n), (p, n))                                                         \
    X(int, pcap_set_tstamp_precision, (pcap_t * p, int n), (p, n))                                                    \
    X(int, pcap_get_tstamp_precision, (pcap_t * p), (p))                                                              \
    X(int, pcap_set_datalink, (pcap_t * p, int n), (p, n))                                                            \
    X(int, pcap_datalink, (pcap_t * p), (p))                                                                          \
    X(int, pcap_get_selectable_fd, (pcap_t * p), (p))                                                                 \
    X(const struct timeval *, pcap_get_required_select_timeout, (pcap_t * p), (p))                                    \
    X(int, pcap_compile, (pcap_t * p, struct bpf_program *f, const char *s, int o, bpf_u_int32 m), (p, f, s, o, m))   \
    X(int, pcap_setfilter, (pcap_t * p, struct bpf_program *f), (p, f))                                               \
    X(int, pcap_offline_filter, (const struct bpf_program *f, const struct pcap_pkthdr *h, const u_char *d),         \
      (f, h, d))                                                                                                      \
    X(int, pcap_next_ex, (pcap_t * p, struct pcap_pkthdr **h, const u_char **d), (p, h, d))                           \
    X(int, pcap_stats, (pcap_t * p, struct pcap_stat *s), (p, s))                                                     \
    X(char *, pcap_geterr, (pcap_t * p), (p))

#define CPCAP_VOID_GIVEN_A_HANDLE(X)                                                                                  \
    X(pcap_close, (pcap_t * p), (p))                                                                                  \
    X(pcap_freecode, (struct bpf_program * f), (f))                                                                   \
    X(pcap_breakloop, (pcap_t * p), (p))

// Each list through one four-argument macro: the opening lists' failure values and the void list's type are filled
// in or dropped here.
#define CPCAP_EACH(M)                                                                                                 \
    CPCAP_OPENING_WITH_BUFFER(CPCAP_DROP_FAILED_##M)                                                                  \
    CPCAP_OPENING(CPCAP_DROP_FAILED_##M)                                                                              \
    CPCAP_GIVEN_A_HANDLE(M)                                                                                           \
    CPCAP_VOID_GIVEN_A_HANDLE(CPCAP_VOID_##M)

#define CPCAP_POINTER(type, name, params, args) static type(*loaded_##name) params;
#define CPCAP_DROP_FAILED_CPCAP_POINTER(type, name, params, args, failed) CPCAP_POINTER(type, name, params, args)
#define CPCAP_VOID_CPCAP_POINTER(name, params, args) CPCAP_POINTER(void, name, params, args)
CPCAP_EACH(CPCAP_POINTER)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded = -1;
static char load_error[PCAP_ERRBUF_SIZE];

static void load(void) {
    static const char *const names[] = {"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"};
    void *library = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && library == NULL; i++) {
        library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (library == NULL && i == 0) {
            const char *why = dlerror();
            snprintf(load_error, sizeof load_error, "cannot open libpcap: %s", why ? why : "dlopen failed");
        }
    }
    if (library == NULL) return;
#define CPCAP_FIND(type, name, params, args)                                                                          \
    *(void **)&loaded_##name = dlsym(library, #name);                                                                 \
    if (loaded_##name == NULL) {                                                                                      \
        snprintf(load_error, sizeof load_error, "libpcap has no %s", #name);                                          \
        return;                                                                                                       \
    }
#define CPCAP_DROP_FAILED_CPCAP_FIND(type, name, params, args, failed) CPCAP_FIND(type, name, params, args)
#define CPCAP_VOID_CPCAP_FIND(name, params, args) CPCAP_FIND(void, name, params, args)
    CPCAP_EACH(CPCAP_FIND)
    load_error[0] = 0;
    loaded = 0;
}

int CPcap_load(void) {
    pthread_once(&once, load);
    return loaded;
}

const char *CPcap_load_error(void) { return CPcap_load() == 0 ? NULL : load_error; }

#define CPCAP_OPENING_WITH_BUFFER_WRAPPER(type, name, params, args, failed)                                           \
    type CPcap_##name params {                                                                                        \
        if (CPcap_load() != 0) {                                                                                      \
            snprintf(e, PCAP_ERRBUF_SIZE, "%s", load_error);                                                          \
            return failed;                                                                                            \
        }                                                                                                             \
        return loaded_##name args;                                                                                    \
    }
#define CPCAP_OPENING_WRAPPER(type, name, params, args, failed)                                                       \
    type CPcap_##name params {                                                                                        \
        if (CPcap_load() != 0) return failed;                                                                         \
        return loaded_##name args;                                                                                    \
    }
#define CPCAP_GIVEN_A_HANDLE_WRAPPER(type, name, params, args)                                                        \
    type CPcap_##name params { return loaded_##name args; }
#define CPCAP_VOID_GIVEN_A_HANDLE_WRAPPER(name, params, args)                                                         \
    void CPcap_##name params { loaded_##name args; }
CPCAP_OPENING_WITH_BUFFER(CPCAP_OPENING_WITH_BUFFER_WRAPPER)
CPCAP_OPENING(CPCAP_OPENING_WRAPPER)
CPCAP_GIVEN_A_HANDLE(CPCAP_GIVEN_A_HANDLE_WRAPPER)
CPCAP_VOID_GIVEN_A_HANDLE(CPCAP_VOID_GIVEN_A_HANDLE_WRAPPER)
