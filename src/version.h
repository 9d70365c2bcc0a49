/* ember's version, and the version of Firecracker whose API and command
 * line it follows (GET /version's firecracker_version; what `firecracker
 * --version` prints when ember is installed under Firecracker's name). */
#ifndef EMBER_VERSION_H
#define EMBER_VERSION_H

#define EMBER_VERSION "0.1.0"
#define FC_API_VERSION "1.7.0"

#endif
