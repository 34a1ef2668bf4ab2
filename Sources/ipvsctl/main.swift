import Glibc

// ipvsctl: ipvsadm 1.31's command line, outputs, messages and exit statuses, over IPVSNetlink.
exit(IPVSCtl.run(CommandLine.arguments))
