/*
 * g711.h - ITU-T G.711 companding: 16-bit linear PCM to and from mu-law
 * (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8).
 *
 * Pure functions of their argument: any thread, no state. The 16-bit
 * sample is the linear value scaled to the full int16_t range, as
 * libsndfile and the G.191 software tools scale it: mu-law decodes to
 * +-32124 at most, A-law to +-32256. Encoding clips what is beyond.
 *
 * The codes are as they go on the wire: mu-law with all bits inverted,
 * A-law with the even bits inverted (G.711 tables 1 and 2), so silence
 * is 0xFF in mu-law and 0xD5 in A-law.
 */
#ifndef MASKD_G711_H
#define MASKD_G711_H

#include <stdint.h>

#define G711_ULAW_SILENCE 0xFF
#define G711_ALAW_SILENCE 0xD5

uint8_t g711_ulaw_encode(int16_t pcm);
int16_t g711_ulaw_decode(uint8_t code);
uint8_t g711_alaw_encode(int16_t pcm);
int16_t g711_alaw_decode(uint8_t code);

#endif
