/* dump-acpi NCPUS DIR [pci]: writes the ACPI tables ember would give a guest with
 * NCPUS vCPUs into DIR/<signature>.dat, so ACPICA's iasl can check them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "memory/layout.h"

static void dump(const struct guest_memory *m, uint64_t gpa, const char *dir)
{
    const uint8_t *t = gpa_to_host(m, gpa, 36);
    uint32_t len;
    memcpy(&len, t + 4, 4);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%.4s.dat", dir, (const char *)t);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(t, 1, len, f) != len || fclose(f)) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: dump-acpi NCPUS DIR [pci]\n");
        return 2;
    }
    struct guest_memory m;
    if (guest_memory_init(&m, 16 * MiB) < 0)
        return 1;
    uint64_t rsdp = acpi_write_tables(&m, atoi(argv[1]), argc > 3 && !strcmp(argv[3], "pci"));
    if (!rsdp)
        return 1;
    const uint8_t *r = gpa_to_host(&m, rsdp, 36);
    uint64_t xsdt, fadt, madt;
    memcpy(&xsdt, r + 24, 8);
    const uint8_t *x = gpa_to_host(&m, xsdt, 52);
    memcpy(&fadt, x + 36, 8);
    memcpy(&madt, x + 44, 8);
    uint32_t dsdt;
    memcpy(&dsdt, (const uint8_t *)gpa_to_host(&m, fadt, 276) + 40, 4);
    dump(&m, xsdt, argv[2]);
    dump(&m, fadt, argv[2]);
    dump(&m, madt, argv[2]);
    dump(&m, dsdt, argv[2]);
    return 0;
}
