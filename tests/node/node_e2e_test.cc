// End to end: the extender binds, accelsched-node allocates exactly those devices (to come).
#include "gtest/gtest.h"
