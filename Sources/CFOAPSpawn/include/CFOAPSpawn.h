#ifndef CFOAPSPAWN_H
#define CFOAPSPAWN_H
int cfoap_placeholder(void);
#endif
