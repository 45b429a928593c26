/* Fuzz targets need the core but no bundled modules. */
#include "bundle.h"

const struct bundle_entry bundle_table[] = {{0, 0, 0}};
const unsigned bundle_count = 0;
