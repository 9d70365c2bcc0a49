/* The shortest interval between two timer interrupts ember's own timer
 * models (the PIT in split and user mode, the LAPIC timer in user mode)
 * deliver: 200 us, KVM's default min_timer_period_us (a kvm.ko parameter),
 * which KVM applies to its in-kernel PIT and to the LAPIC's periodic mode.
 * Without it a guest programming a count of 1 gets an interrupt every few
 * nanoseconds (LAPIC, 1 GHz bus) or every 838 ns (PIT), and ember's timer
 * thread spends half a host core serving them; at 200 us (5 kHz) it is a
 * few percent. Linux's fastest tick, HZ=1000, is five times slower. */
#ifndef EMBER_IRQ_TIMER_FLOOR_H
#define EMBER_IRQ_TIMER_FLOOR_H

#define IRQ_TIMER_MIN_PERIOD_NS (200 * 1000ULL)

#endif
