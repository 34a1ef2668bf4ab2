// libpcap (Debian libpcap-dev, found through pkg-config): live capture, pcap files, BPF filters.
#include <pcap/pcap.h>
