// Kept only for test files that still include "tiny_net.h" from this folder; the helper is
// tests/common/tiny_net.h.
#pragma once
#include "../common/tiny_net.h"
