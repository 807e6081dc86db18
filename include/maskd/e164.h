/*
 * e164.h - E.164 phone number validation.
 *
 * Pure functions, no state: safe from any thread.
 */
#ifndef MASKD_E164_H
#define MASKD_E164_H

#include <stdbool.h>
#include <stddef.h>

/* E164_SIZE - '+', at most 15 digits and the NUL. */
#define E164_SIZE 17

/*
 * e164_valid() - true when @s is '+' followed by 7 to 15 digits, the first
 * of them not 0 (ITU-T E.164: country code never starts with 0; 15 digits
 * at most; shorter than 7 digits is no dialable subscriber number).
 */
bool e164_valid(const char *s);

#endif
