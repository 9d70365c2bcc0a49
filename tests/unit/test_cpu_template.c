/* CPU templates: Firecracker's bitmap and number syntax (its quirks too),
 * the static templates decoded to the bits its documentation names, the
 * JSON body of PUT /cpu-config and machine-config's cpu_template with its
 * one-slot rule, and a template applied to a CPUID table. */
#include <stdlib.h>

#include "api/fc_config.h"
#include "check.h"
#include "cpu/cpu_template.h"

static char err[FC_ERR_MAX];

TEST(bitmaps_read_from_the_right_with_x_kept_and_underscores_skipped)
{
    uint64_t f, v;
    CHECK(cpu_template_parse_bitmap("0b10x", 32, &f, &v, err) == 0);
    CHECK_EQ(f, 0x6);
    CHECK_EQ(v, 0x4);
    CHECK(cpu_template_parse_bitmap("1_0", 32, &f, &v, err) == 0); /* "0b" is optional */
    CHECK_EQ(f, 0x3);
    CHECK_EQ(v, 0x2);
    CHECK(cpu_template_parse_bitmap("0b", 32, &f, &v, err) == 0); /* nothing: every bit kept */
    CHECK_EQ(f, 0);
    char full[70] = "0b";
    memset(full + 2, '1', 64);
    full[66] = '\0';
    CHECK(cpu_template_parse_bitmap(full, 64, &f, &v, err) == 0);
    CHECK_EQ(v, ~0ULL);
    CHECK(cpu_template_parse_bitmap(full, 32, &f, &v, err) < 0);
    CHECK(strstr(err, "string is too long"));
    /* Firecracker's quirk: after the last bit even an '_' is too long. */
    CHECK(cpu_template_parse_bitmap("0b_11111111111111111111111111111111", 32, &f, &v, err) < 0);
    CHECK(cpu_template_parse_bitmap("0b1X", 32, &f, &v, err) < 0);
    CHECK(strstr(err, "unknown character: 88"));
}

TEST(numbers_need_a_0x_or_0b_prefix)
{
    uint32_t n;
    CHECK(cpu_template_parse_number("0x80000001", &n, err) == 0);
    CHECK_EQ(n, 0x80000001u);
    CHECK(cpu_template_parse_number("0b101", &n, err) == 0);
    CHECK_EQ(n, 5);
    CHECK(cpu_template_parse_number("0xABCdef", &n, err) == 0);
    CHECK(cpu_template_parse_number("69", &n, err) < 0); /* Firecracker's unit test: decimal is refused */
    CHECK(strstr(err, "No supported number system prefix found in value [69]"));
    CHECK(cpu_template_parse_number("0X1", &n, err) < 0);
    CHECK(cpu_template_parse_number("0x", &n, err) < 0);
    CHECK(cpu_template_parse_number("0x100000000", &n, err) < 0);
    CHECK(cpu_template_parse_number("0x-1", &n, err) < 0);
    CHECK(cpu_template_parse_number("0x 1", &n, err) < 0);
    CHECK(cpu_template_parse_number("0x0x1", &n, err) < 0);
    CHECK(cpu_template_parse_number("0x1g", &n, err) < 0);
    enum cpuid_reg r;
    CHECK(cpu_template_parse_register("ecx", &r, err) == 0 && r == CPUID_ECX);
    CHECK(cpu_template_parse_register("ECX", &r, err) < 0);
    CHECK(strstr(err, "Must be one of [eax, ebx, ecx, edx]"));
}

static const struct cpuid_modifier *find(const struct cpu_template *t, uint32_t leaf, uint32_t subleaf,
                                         enum cpuid_reg reg)
{
    for (int i = 0; i < t->ncpuid; i++)
        if (t->cpuid[i].leaf == leaf && t->cpuid[i].subleaf == subleaf && t->cpuid[i].reg == reg)
            return &t->cpuid[i];
    return NULL;
}

/* bit cleared: in the filter, not in the value. */
#define CLEARS(m, bit) ((m) && ((m)->filter >> (bit) & 1) && !((m)->value >> (bit) & 1))
#define SETS(m, bit) ((m) && ((m)->value >> (bit) & 1))
#define KEEPS(m, bit) ((m) && !((m)->filter >> (bit) & 1))

TEST(static_templates_decode_to_the_documented_bits)
{
    struct cpu_template t;
    const char *names[] = {"C3", "T2", "T2S", "T2CL", "T2A"};
    for (int i = 0; i < 5; i++) /* every table entry parses (a typo aborts) */
        CHECK(cpu_template_static(names[i], &t) == 0 && !strcmp(t.name, names[i]));
    CHECK(cpu_template_static("None", &t) == 1);
    CHECK(cpu_template_static("t2", &t) < 0); /* names are case-sensitive */

    CHECK(cpu_template_static("T2", &t) == 0);
    CHECK_EQ(t.vendor, CPU_VENDOR_INTEL);
    const struct cpuid_modifier *eax1 = find(&t, 1, 0, CPUID_EAX), *ebx7 = find(&t, 7, 0, CPUID_EBX);
    CHECK(eax1 && (eax1->filter & 0x0fff3fff) == 0x0fff3fff && eax1->value == 0x306f2); /* family 6, model 0x3f */
    CHECK(CLEARS(ebx7, 16) && CLEARS(ebx7, 14) && CLEARS(ebx7, 2)); /* AVX512F, MPX, SGX */
    CHECK(SETS(ebx7, 9));                                           /* ERMS */
    CHECK(KEEPS(ebx7, 5));                                          /* AVX2 stays the host's */
    CHECK_EQ(find(&t, 7, 0, CPUID_EBX)->flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    CHECK(CLEARS(find(&t, 0x80000008, 0, CPUID_EBX), 9)); /* WBNOINVD */
    CHECK_EQ(t.nmsrs, 0);

    CHECK(cpu_template_static("T2S", &t) == 0);
    CHECK(t.nmsrs == 1 && t.msrs[0].addr == 0x10a && t.msrs[0].filter == ~0ULL && t.msrs[0].value == 0x0C0A0C4C);
    CHECK(cpu_template_static("T2CL", &t) == 0);
    CHECK(t.nmsrs == 1 && t.msrs[0].filter == 0xFFFFFFFFE2F51E00ULL && t.msrs[0].value == 0);
    CHECK(CLEARS(find(&t, 0x80000001, 0, CPUID_ECX), 6)); /* SSE4A */

    CHECK(cpu_template_static("T2A", &t) == 0);
    CHECK_EQ(t.vendor, CPU_VENDOR_AMD);
    const struct cpuid_modifier *ebx8 = find(&t, 0x80000008, 0, CPUID_EBX);
    CHECK(CLEARS(ebx8, 0) && CLEARS(ebx8, 9) && SETS(ebx8, 2) && SETS(ebx8, 18) && SETS(ebx8, 19) && SETS(ebx8, 20));
    CHECK(CLEARS(find(&t, 0x80000001, 0, CPUID_ECX), 2)); /* SVM */

    CHECK(cpu_template_static("C3", &t) == 0);
    CHECK(CLEARS(find(&t, 7, 0, CPUID_EBX), 5));                  /* AVX2 */
    CHECK(CLEARS(find(&t, 0x80000001, 0, CPUID_ECX), 5));         /* LZCNT */
    CHECK_EQ(find(&t, 1, 0, CPUID_EAX)->value, 0x306e4);
}

static json_t *body(const char *text)
{
    json_t *j = fc_parse_body(text, strlen(text), err);
    CHECK(j);
    return j;
}

static int put_cpu(struct fc_config *c, const char *text)
{
    json_t *j = body(text);
    int r = fc_put_cpu_config(c, j, err);
    json_decref(j);
    return r;
}

TEST(put_cpu_config_takes_firecrackers_json)
{
    struct fc_config c;
    fc_config_init(&c);
    CHECK(put_cpu(&c, "{}") == 0 && c.has_cpu_template && c.cpu_template.ncpuid == 0);
    CHECK(put_cpu(&c, "{\"kvm_capabilities\": [\"56\", \"!57\"], \"cpuid_modifiers\": [{\"leaf\": \"0x7\", "
                      "\"subleaf\": \"0x0\", \"flags\": 1, \"modifiers\": [{\"register\": \"ebx\", \"bitmap\": "
                      "\"0b1x0\"}, {\"register\": \"ecx\", \"bitmap\": \"0b1\", \"comment\": \"ignored\"}]}], "
                      "\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b0\"}]}") == 0);
    CHECK_EQ(c.cpu_template.ncaps, 1);
    CHECK_EQ(c.cpu_template.caps_needed[0], 56);
    CHECK_EQ(c.cpu_template.ncpuid, 2);
    CHECK(c.cpu_template.cpuid[0].leaf == 7 && c.cpu_template.cpuid[0].flags == 1 &&
          c.cpu_template.cpuid[0].filter == 5 && c.cpu_template.cpuid[0].value == 4);
    CHECK(c.cpu_template.nmsrs == 1 && c.cpu_template.msrs[0].addr == 0x10a && c.cpu_template.msrs[0].filter == 1);
    /* A second PUT replaces the first whole. */
    CHECK(put_cpu(&c, "{\"msr_modifiers\": []}") == 0 && c.cpu_template.ncpuid == 0 && c.cpu_template.nmsrs == 0);
    /* Refused, the template left as it was: test_api.py's {"foo": false}, aarch64's fields, bad entries. */
    CHECK(put_cpu(&c, "{\"foo\": false}") < 0);
    CHECK(put_cpu(&c, "{\"reg_modifiers\": []}") < 0);
    CHECK(put_cpu(&c, "{\"cpuid_modifiers\": {}}") < 0);
    CHECK(put_cpu(&c, "{\"cpuid_modifiers\": [{\"leaf\": 1, \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": []}]}") <
          0);
    CHECK(strstr(err, "`leaf`"));
    CHECK(put_cpu(&c, "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"modifiers\": []}]}") < 0);
    CHECK(strstr(err, "missing field `flags`"));
    CHECK(put_cpu(&c, "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": \"1\", "
                      "\"modifiers\": []}]}") < 0);
    CHECK(put_cpu(&c, "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "
                      "[{\"register\": \"rax\", \"bitmap\": \"0b1\"}]}]}") < 0);
    CHECK(strstr(err, "Invalid CPUID register"));
    CHECK(put_cpu(&c, "{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b2\"}]}") < 0);
    CHECK(put_cpu(&c, "{\"kvm_capabilities\": [56]}") < 0);
    CHECK(put_cpu(&c, "{\"kvm_capabilities\": [\"!x\"]}") < 0);
    CHECK(c.has_cpu_template && c.cpu_template.ncpuid == 0);
    /* Bounded: more register modifiers than ember holds is refused. */
    char *big = malloc(64 * 1024);
    size_t n = (size_t)sprintf(big, "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, "
                                    "\"modifiers\": [");
    for (int i = 0; i <= CPU_TEMPLATE_MAX_CPUID; i++)
        n += (size_t)sprintf(big + n, "%s{\"register\": \"eax\", \"bitmap\": \"0b1\"}", i ? "," : "");
    sprintf(big + n, "]}]}");
    CHECK(put_cpu(&c, big) < 0);
    CHECK(strstr(err, "at most"));
    free(big);
    fc_config_free(&c);
}

static int put_machine(struct fc_config *c, const char *text, bool patch)
{
    json_t *j = body(text);
    int r = fc_put_machine_config(c, j, patch, err);
    json_decref(j);
    return r;
}

TEST(machine_config_cpu_template_shares_the_slot)
{
    struct fc_config c;
    fc_config_init(&c);
    CHECK(put_machine(&c, "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"cpu_template\": \"T2\"}", false) == 0);
    CHECK(c.has_cpu_template && !strcmp(c.cpu_template.name, "T2"));
    json_t *j = fc_machine_config_json(&c);
    CHECK(!strcmp(json_string_value(json_object_get(j, "cpu_template")), "T2"));
    json_decref(j);
    CHECK(put_cpu(&c, "{}") == 0); /* the last one wins */
    CHECK(c.has_cpu_template && !c.cpu_template.name[0]);
    j = fc_machine_config_json(&c);
    CHECK(!strcmp(json_string_value(json_object_get(j, "cpu_template")), "None")); /* a custom one shows as None */
    json_decref(j);
    CHECK(put_machine(&c, "{\"vcpu_count\": 2}", true) == 0); /* absent: kept */
    CHECK(c.has_cpu_template);
    CHECK(put_machine(&c, "{\"cpu_template\": \"random_string\"}", true) < 0);
    CHECK(strstr(err, "unknown variant `random_string`, expected one of `C3`"));
    CHECK(c.has_cpu_template);
    CHECK(put_machine(&c, "{\"cpu_template\": \"None\"}", true) == 0); /* "None" clears */
    CHECK(!c.has_cpu_template);
    j = fc_machine_config_json(&c);
    CHECK(!json_object_get(j, "cpu_template"));
    json_decref(j);
    fc_config_free(&c);
}

/* A small CPUID table like KVM's: leaf 0 (vendor), 1, 7.0 (indexed). */
static struct kvm_cpuid2 *table(const char *vendor)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 3 * sizeof(c->entries[0]));
    c->nent = 3;
    c->entries[0].function = 0;
    memcpy(&c->entries[0].ebx, vendor, 4), memcpy(&c->entries[0].edx, vendor + 4, 4);
    memcpy(&c->entries[0].ecx, vendor + 8, 4);
    c->entries[1] = (struct kvm_cpuid_entry2){.function = 1, .eax = 0xa0671, .ecx = 0xffffffff};
    c->entries[2] = (struct kvm_cpuid_entry2){.function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                                              .ebx = 0xffffffff};
    return c;
}

TEST(a_template_applies_to_a_copy_of_the_table)
{
    struct kvm_cpuid2 *intel = table("GenuineIntel"), *amd = table("AuthenticAMD");
    CHECK_EQ(cpu_template_host_vendor(intel), CPU_VENDOR_INTEL);
    CHECK_EQ(cpu_template_host_vendor(amd), CPU_VENDOR_AMD);
    struct cpu_template t;
    memset(&t, 0, sizeof(t));
    t.cpuid[t.ncpuid++] = (struct cpuid_modifier){.leaf = 7, .subleaf = 0, .flags = 1, .reg = CPUID_EBX,
                                                  .filter = 0x10200, .value = 0x200};
    t.cpuid[t.ncpuid++] = (struct cpuid_modifier){.leaf = 1, .reg = CPUID_EAX, .filter = 0xf, .value = 5};
    struct kvm_cpuid2 *c = cpu_template_apply(&t, intel, -1, err);
    CHECK(c);
    if (c) {
        CHECK_EQ(c->entries[2].ebx, 0xfffeffff); /* bit 16 cleared, bit 9 set (already) */
        CHECK_EQ(c->entries[1].eax, 0xa0675);
        CHECK_EQ(intel->entries[1].eax, 0xa0671); /* the original is untouched */
        free(c);
    }
    /* A subleaf KVM does not list is refused by name. */
    t.cpuid[0].subleaf = 1;
    CHECK(!cpu_template_apply(&t, intel, -1, err));
    CHECK(strstr(err, "Template changes a CPUID entry not supported by KVM: Leaf: 0x7, Subleaf: 0x1"));
    /* The vendor check of the static ones. */
    CHECK(cpu_template_static("T2A", &t) == 0);
    CHECK(!cpu_template_apply(&t, intel, -1, err));
    CHECK(strstr(err, "CPU vendor mismatched between actual CPU and CPU template"));
    free(intel);
    free(amd);
}

RUN_TESTS(CASE(bitmaps_read_from_the_right_with_x_kept_and_underscores_skipped), CASE(numbers_need_a_0x_or_0b_prefix),
          CASE(static_templates_decode_to_the_documented_bits), CASE(put_cpu_config_takes_firecrackers_json),
          CASE(machine_config_cpu_template_shares_the_slot), CASE(a_template_applies_to_a_copy_of_the_table))
