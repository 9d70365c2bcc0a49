/* The exec file ember-jailer copies into the jail: a regular, singly
 * linked, statically linked x86-64 ELF executable, opened without
 * following a symlink; and the jail's paths. Files are made in a temp
 * directory: a static and a dynamic ELF built from headers alone, a
 * symlink, a hard link, a directory, a FIFO, a text file. */
#include "jailer/exec_file.h"
#include "jailer/jail_fs.h"
#include "check.h"

#include <elf.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct jerr e;
static char dir[] = "/tmp/test_jailer_exec_file.XXXXXX";

static void remove_dir(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
}

/* A path in the test's directory, made (and removed at exit) on first use. */
static const char *in_dir(const char *name)
{
    static bool made;
    if (!made) {
        made = mkdtemp(dir) != NULL;
        CHECK(made);
        atexit(remove_dir);
    }
    static char p[4][PATH_MAX];
    static int n;
    char *s = p[n++ % 4];
    snprintf(s, PATH_MAX, "%s/%s", dir, name);
    return s;
}

/* An ELF header and program headers, the first of type first_type. */
static void write_elf(const char *name, uint32_t first_type, uint16_t machine, uint16_t type)
{
    struct {
        Elf64_Ehdr eh;
        Elf64_Phdr ph[2];
    } f;
    memset(&f, 0, sizeof(f));
    memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
    f.eh.e_ident[EI_CLASS] = ELFCLASS64;
    f.eh.e_ident[EI_DATA] = ELFDATA2LSB;
    f.eh.e_ident[EI_VERSION] = EV_CURRENT;
    f.eh.e_type = type;
    f.eh.e_machine = machine;
    f.eh.e_phoff = sizeof(Elf64_Ehdr);
    f.eh.e_phentsize = sizeof(Elf64_Phdr);
    f.eh.e_phnum = 2;
    f.ph[0].p_type = PT_LOAD;
    f.ph[1].p_type = first_type;
    FILE *out = fopen(in_dir(name), "w");
    CHECK(out != NULL);
    if (out) {
        fwrite(&f, sizeof(f), 1, out);
        fclose(out);
    }
}

static int try_open(const char *name)
{
    struct exec_file x;
    int rc = exec_file_open(in_dir(name), &x, &e);
    if (rc == 0)
        exec_file_close(&x);
    return rc;
}

TEST(a_static_elf_executable_is_taken)
{
    write_elf("ember", PT_GNU_STACK, EM_X86_64, ET_EXEC);
    struct exec_file x;
    CHECK_EQ(exec_file_open(in_dir("ember"), &x, &e), 0);
    CHECK(!strcmp(x.name, "ember"));
    CHECK_EQ(x.size, sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr));
    exec_file_close(&x);
    write_elf("static-pie", PT_DYNAMIC, EM_X86_64, ET_DYN); /* no PT_INTERP: static-pie */
    CHECK_EQ(try_open("static-pie"), 0);
}

TEST(a_dynamic_elf_is_refused_with_the_way_out)
{
    write_elf("dynamic", PT_INTERP, EM_X86_64, ET_DYN);
    CHECK_EQ(try_open("dynamic"), -1);
    CHECK(strstr(e.msg, "dynamically linked (it has a PT_INTERP program header)"));
    CHECK(strstr(e.msg, "use a statically linked ember"));
}

TEST(other_files_are_refused)
{
    write_elf("arm", PT_LOAD, EM_AARCH64, ET_EXEC);
    CHECK_EQ(try_open("arm"), -1);
    CHECK(strstr(e.msg, "for another machine"));
    write_elf("object", PT_LOAD, EM_X86_64, ET_REL);
    CHECK_EQ(try_open("object"), -1);
    CHECK(strstr(e.msg, "not an executable"));
    FILE *f = fopen(in_dir("script"), "w");
    fputs("#!/bin/sh\necho hi\n", f);
    fclose(f);
    CHECK_EQ(try_open("script"), -1);
    CHECK(strstr(e.msg, "not a 64-bit ELF file"));
    f = fopen(in_dir("empty"), "w");
    fclose(f);
    CHECK_EQ(try_open("empty"), -1);
    /* Program headers past the end of the file. */
    write_elf("cut", PT_LOAD, EM_X86_64, ET_EXEC);
    CHECK_EQ(truncate(in_dir("cut"), sizeof(Elf64_Ehdr) + 10), 0);
    CHECK_EQ(try_open("cut"), -1);
    CHECK(strstr(e.msg, "cut short"));
}

TEST(symlinks_hard_links_directories_and_fifos_are_refused)
{
    write_elf("real", PT_LOAD, EM_X86_64, ET_EXEC);
    CHECK_EQ(symlink(in_dir("real"), in_dir("link")), 0);
    CHECK_EQ(try_open("link"), -1);
    CHECK(strstr(e.msg, "link: is a symbolic link; give the file itself"));
    CHECK_EQ(link(in_dir("real"), in_dir("hard")), 0);
    CHECK_EQ(try_open("hard"), -1);
    CHECK(strstr(e.msg, "has 2 hard links"));
    CHECK_EQ(try_open("real"), -1); /* the first name is a link too */
    CHECK_EQ(mkdir(in_dir("sub"), 0755), 0);
    CHECK_EQ(try_open("sub"), -1);
    CHECK(strstr(e.msg, "sub: is a directory"));
    CHECK_EQ(try_open("sub/."), -1);
    CHECK(strstr(e.msg, "names a directory"));
    CHECK_EQ(mkfifo(in_dir("fifo"), 0600), 0);
    CHECK_EQ(try_open("fifo"), -1); /* and does not hang */
    CHECK(strstr(e.msg, "not a regular file"));
    CHECK_EQ(try_open("missing"), -1);
    CHECK(strstr(e.msg, "missing: No such file or directory"));
}

TEST(the_copy_is_the_same_bytes_mode_0755)
{
    write_elf("tocopy", PT_GNU_STACK, EM_X86_64, ET_EXEC);
    struct exec_file x;
    CHECK_EQ(exec_file_open(in_dir("tocopy"), &x, &e), 0);
    CHECK_EQ(mkdir(in_dir("root"), 0700), 0);
    int root = open(in_dir("root"), O_RDONLY | O_DIRECTORY);
    CHECK_EQ(exec_file_copy(&x, root, "root/tocopy", &e), 0);
    /* The name is taken now: a second copy is refused, not overwritten. */
    CHECK_EQ(exec_file_copy(&x, root, "root/tocopy", &e), -1);
    CHECK(strstr(e.msg, "File exists"));
    close(root);
    exec_file_close(&x);
    struct stat st;
    CHECK_EQ(stat(in_dir("root/tocopy"), &st), 0);
    CHECK_EQ(st.st_mode & 07777, 0755);
    CHECK_EQ(st.st_size, sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr));
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof(cmd), "cmp -s %s %s", in_dir("tocopy"), in_dir("root/tocopy"));
    CHECK_EQ(system(cmd), 0);
}

TEST(the_jail_is_base_exec_name_id_root)
{
    struct jail_paths p;
    CHECK_EQ(jail_paths_compose("/srv/jailer", "ember", "vm1", &p, &e), 0);
    CHECK(!strcmp(p.exec_dir, "/srv/jailer/ember"));
    CHECK(!strcmp(p.jail_dir, "/srv/jailer/ember/vm1"));
    CHECK(!strcmp(p.root, "/srv/jailer/ember/vm1/root"));
    CHECK_EQ(jail_paths_compose("/", "ember", "vm1", &p, &e), 0);
    CHECK(!strcmp(p.root, "/ember/vm1/root"));
    char base[PATH_MAX];
    memset(base, 'a', sizeof(base) - 8);
    base[0] = '/';
    base[sizeof(base) - 8] = 0;
    CHECK_EQ(jail_paths_compose(base, "ember", "vm1", &p, &e), -1);
    CHECK(strstr(e.msg, "...: the jail's path would be longer than 4095 bytes"));
}

RUN_TESTS(CASE(a_static_elf_executable_is_taken), CASE(a_dynamic_elf_is_refused_with_the_way_out),
          CASE(other_files_are_refused), CASE(symlinks_hard_links_directories_and_fifos_are_refused),
          CASE(the_copy_is_the_same_bytes_mode_0755), CASE(the_jail_is_base_exec_name_id_root))
