// libpcap opened on first use: see include/CPcap.h.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "CPcap.h"

// Every function the tap uses: return type, name, parameters, arguments, what the call returns without libpcap.
// The three that take an error buffer are written out below: without libpcap they put the reason there.
#define IPVS_PCAP_BUFFER_FUNCTIONS(X)                                                                                 \
    X(pcap_t *, pcap_create, (const char *s, char *e), (s, e), NULL)                                                  \
    X(pcap_t *, pcap_open_offline_with_tstamp_precision, (const char *s, u_int r, char *e), (s, r, e), NULL)          \
    X(int, pcap_setnonblock, (pcap_t * p, int n, char *e), (p, n, e), PCAP_ERROR)

#define IPVS_PCAP_FUNCTIONS(X)                                                                                        \
    X(pcap_t *, pcap_open_dead, (int l, int n), (l, n), NULL)                                                         \
    X(int, pcap_activate, (pcap_t * p), (p), PCAP_ERROR)                                                              \
    X(int, pcap_set_snaplen, (pcap_t * p, int n), (p, n), PCAP_ERROR)                                                 \
    X(int, pcap_set_promisc, (pcap_t * p, int n), (p, n), PCAP_ERROR)                                                 \
    X(int, pcap_set_immediate_mode, (pcap_t * p, int n), (p, n), PCAP_ERROR)                                          \
    X(int, pcap_set_timeout, (pcap_t * p, int n), (p, n), PCAP_ERROR)                                                 \
    X(int, pcap_set_buffer_size, (pcap_t * p, int n), (p, n), PCAP_ERROR)                                             \
    X(int, pcap_set_tstamp_precision, (pcap_t * p, int n), (p, n), PCAP_ERROR)                                        \
    X(int, pcap_get_tstamp_precision, (pcap_t * p), (p), PCAP_ERROR)                                                  \
    X(int, pcap_set_datalink, (pcap_t * p, int n), (p, n), PCAP_ERROR)                                                \
    X(int, pcap_datalink, (pcap_t * p), (p), PCAP_ERROR)                                                              \
    X(int, pcap_get_selectable_fd, (pcap_t * p), (p), -1)                                                             \
    X(const struct timeval *, pcap_get_required_select_timeout, (pcap_t * p), (p), NULL)                              \
    X(int, pcap_compile, (pcap_t * p, struct bpf_program *f, const char *s, int o, bpf_u_int32 m), (p, f, s, o, m),   \
      PCAP_ERROR)                                                                                                     \
    X(int, pcap_setfilter, (pcap_t * p, struct bpf_program *f), (p, f), PCAP_ERROR)                                   \
    X(int, pcap_offline_filter, (const struct bpf_program *f, const struct pcap_pkthdr *h, const u_char *d),         \
      (f, h, d), 0)                                                                                                   \
    X(int, pcap_next_ex, (pcap_t * p, struct pcap_pkthdr **h, const u_char **d), (p, h, d), PCAP_ERROR)               \
    X(int, pcap_stats, (pcap_t * p, struct pcap_stat *s), (p, s), PCAP_ERROR)                                         \
    X(char *, pcap_geterr, (pcap_t * p), (p), (char *)"libpcap is not loaded")                                        \
    X(const char *, pcap_statustostr, (int n), (n), "libpcap is not loaded")

#define IPVS_PCAP_VOID_FUNCTIONS(X)                                                                                   \
    X(pcap_close, (pcap_t * p), (p))                                                                                  \
    X(pcap_freecode, (struct bpf_program * f), (f))                                                                   \
    X(pcap_breakloop, (pcap_t * p), (p))

#define IPVS_PCAP_POINTER(type, name, params, args, failed) static type(*loaded_##name) params;
#define IPVS_PCAP_VOID_POINTER(name, params, args) static void(*loaded_##name) params;
IPVS_PCAP_BUFFER_FUNCTIONS(IPVS_PCAP_POINTER)
IPVS_PCAP_FUNCTIONS(IPVS_PCAP_POINTER)
IPVS_PCAP_VOID_FUNCTIONS(IPVS_PCAP_VOID_POINTER)

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
#define IPVS_PCAP_FIND(type, name, params, args, failed)                                                              \
    *(void **)&loaded_##name = dlsym(library, #name);                                                                 \
    if (loaded_##name == NULL) {                                                                                      \
        snprintf(load_error, sizeof load_error, "libpcap has no %s", #name);                                          \
        return;                                                                                                       \
    }
#define IPVS_PCAP_VOID_FIND(name, params, args) IPVS_PCAP_FIND(void, name, params, args, )
    IPVS_PCAP_BUFFER_FUNCTIONS(IPVS_PCAP_FIND)
    IPVS_PCAP_FUNCTIONS(IPVS_PCAP_FIND)
    IPVS_PCAP_VOID_FUNCTIONS(IPVS_PCAP_VOID_FIND)
    load_error[0] = 0;
    loaded = 0;
}

int CPcap_load(void) {
    pthread_once(&once, load);
    return loaded;
}

const char *CPcap_load_error(void) { return CPcap_load() == 0 ? NULL : load_error; }

// A call before libpcap is there fails as libpcap's does; the functions that fill an error buffer say why.
#define IPVS_PCAP_WRAPPER(type, name, params, args, failed)                                                           \
    type CPcap_##name params {                                                                                         \
        if (CPcap_load() != 0) return failed;                                                                     \
        return loaded_##name args;                                                                                    \
    }
#define IPVS_PCAP_VOID_WRAPPER(name, params, args)                                                                    \
    void CPcap_##name params {                                                                                         \
        if (CPcap_load() == 0) loaded_##name args;                                                                \
    }
#define IPVS_PCAP_BUFFER_WRAPPER(type, name, params, args, failed)                                                    \
    type CPcap_##name params {                                                                                         \
        if (CPcap_load() != 0) {                                                                                  \
            snprintf(e, PCAP_ERRBUF_SIZE, "%s", load_error);                                                          \
            return failed;                                                                                            \
        }                                                                                                             \
        return loaded_##name args;                                                                                    \
    }
IPVS_PCAP_BUFFER_FUNCTIONS(IPVS_PCAP_BUFFER_WRAPPER)
IPVS_PCAP_FUNCTIONS(IPVS_PCAP_WRAPPER)
IPVS_PCAP_VOID_FUNCTIONS(IPVS_PCAP_VOID_WRAPPER)
