// Declarations only (include/CTapFuzz.h); SwiftPM needs one source file for a C target.
#include "CTapFuzz.h"
