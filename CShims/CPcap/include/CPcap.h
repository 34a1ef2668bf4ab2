// CPcap: libpcap (Debian libpcap-dev's headers), loaded when first used rather than linked.
//
// Linking libpcap makes every start of every program that links the pcap tap load it and the eight libraries it
// needs (libdbus, libsystemd, libgcrypt, liblzma, libzstd, liblz4, libgpg-error, libcap): about 40 ms a start in
// the kernel VM, paid by `ipvsctl -Ln` and `ipvsctl -R` although only `ipvsctl verify` captures. So the tap calls
// the `CPcap_pcap_*` functions below, each libpcap's function of the same name without the prefix: the first call
// that opens a handle (pcap_create, pcap_open_offline_*, pcap_open_dead; or pcap_statustostr) opens libpcap (dlopen
// of libpcap.so.0.8, then libpcap.so.1, then libpcap.so) and finds every function at once. When that fails, those
// calls fail as libpcap's own failures do (NULL, with the reason in the error buffer when they take one), and
// CPcap_load_error says why. The others take a handle or a program one of those made, so libpcap is there: they
// call it with no check on the way (pcap_next_ex and pcap_offline_filter run once a packet).
#ifndef C_PCAP_H
#define C_PCAP_H

#include <pcap/pcap.h>

/// Opens libpcap if not yet done; 0 when it and every function below are there, -1 otherwise.
int CPcap_load(void);
/// Why libpcap could not be opened (dlerror's words), or NULL when it was.
const char *CPcap_load_error(void);

pcap_t *CPcap_pcap_create(const char *source, char *errbuf);
pcap_t *CPcap_pcap_open_dead(int linktype, int snaplen);
pcap_t *CPcap_pcap_open_offline_with_tstamp_precision(const char *path, u_int precision, char *errbuf);
void CPcap_pcap_close(pcap_t *p);
int CPcap_pcap_activate(pcap_t *p);
int CPcap_pcap_set_snaplen(pcap_t *p, int snaplen);
int CPcap_pcap_set_promisc(pcap_t *p, int promisc);
int CPcap_pcap_set_immediate_mode(pcap_t *p, int immediate);
int CPcap_pcap_set_timeout(pcap_t *p, int milliseconds);
int CPcap_pcap_set_buffer_size(pcap_t *p, int size);
int CPcap_pcap_set_tstamp_precision(pcap_t *p, int precision);
int CPcap_pcap_get_tstamp_precision(pcap_t *p);
int CPcap_pcap_set_datalink(pcap_t *p, int linktype);
int CPcap_pcap_datalink(pcap_t *p);
int CPcap_pcap_setnonblock(pcap_t *p, int nonblock, char *errbuf);
int CPcap_pcap_get_selectable_fd(pcap_t *p);
const struct timeval *CPcap_pcap_get_required_select_timeout(pcap_t *p);
int CPcap_pcap_compile(pcap_t *p, struct bpf_program *program, const char *expression, int optimize,
                       bpf_u_int32 netmask);
int CPcap_pcap_setfilter(pcap_t *p, struct bpf_program *program);
void CPcap_pcap_freecode(struct bpf_program *program);
int CPcap_pcap_offline_filter(const struct bpf_program *program, const struct pcap_pkthdr *header,
                              const u_char *packet);
int CPcap_pcap_next_ex(pcap_t *p, struct pcap_pkthdr **header, const u_char **data);
void CPcap_pcap_breakloop(pcap_t *p);
int CPcap_pcap_stats(pcap_t *p, struct pcap_stat *stats);
char *CPcap_pcap_geterr(pcap_t *p);
const char *CPcap_pcap_statustostr(int status);

#endif
