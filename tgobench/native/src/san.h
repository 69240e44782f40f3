/*
 * san.h - telling the sanitizers about stack switches.
 *
 * ASan and TSan track one stack per thread; a coroutine switch moves a
 * thread to another stack behind their back. Under those builds every
 * switch is announced (ASan's start/finish_switch_fiber, TSan's fibers),
 * and a pooled stack is unpoisoned, since a task that exits through mcall
 * never unwinds its frames. In a normal build all of this is empty.
 */
#ifndef TGO_SAN_H
#define TGO_SAN_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define TGO__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TGO__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TGO__ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define TGO__TSAN 1
#endif
#endif

#if defined(TGO__ASAN) || defined(TGO__TSAN)
#define TGO__SANITIZED 1 /* tasks carry the fields below's macros use */
#endif

#ifdef TGO__ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define tgo__san_start_switch(save, lo, size) __sanitizer_start_switch_fiber((save), (lo), (size))
#define tgo__san_finish_switch(save) __sanitizer_finish_switch_fiber((save), NULL, NULL)
#define tgo__san_unpoison(lo, size) __asan_unpoison_memory_region((lo), (size))
#else
/* the arguments are not evaluated: they may name sanitizer-only fields */
#define tgo__san_start_switch(save, lo, size) ((void)0)
#define tgo__san_finish_switch(save) ((void)0)
#define tgo__san_unpoison(lo, size) ((void)0)
#endif

#ifdef TGO__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#define tgo__tsan_current() __tsan_get_current_fiber()
#define tgo__tsan_create() __tsan_create_fiber(0)
#define tgo__tsan_destroy(f) __tsan_destroy_fiber(f)
#define tgo__tsan_switch(f) __tsan_switch_to_fiber((f), 0)
/* TSan counts a fiber as a thread and dies past 8128 of them, worker
 * threads included (GCC 12's libtsan): a spawn past this many tasks alive
 * at once is refused with -ENOMEM instead. */
#define TGO__MAX_LIVE_TASKS 8000
#else
#define tgo__tsan_current() NULL
#define tgo__tsan_create() NULL
#define tgo__tsan_destroy(f) ((void)0)
#define tgo__tsan_switch(f) ((void)0)
#endif

/* A task's sanitizer fields, where the build has them. */
#ifdef TGO__SANITIZED
#define tgo__task_san_fiber(t) ((t)->san_fiber)
#define tgo__task_san_set_fiber(t, f) ((t)->san_fiber = (f))
#else
#define tgo__task_san_fiber(t) NULL
#define tgo__task_san_set_fiber(t, f) ((void)0)
#endif

#endif
