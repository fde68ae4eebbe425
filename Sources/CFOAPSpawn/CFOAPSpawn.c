#include "CFOAPSpawn.h"
int cfoap_placeholder(void) { return 0; }
