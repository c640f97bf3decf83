/*-------------------------------------------------------------------------
 *
 * stylist_chat.c
 *	  Entry point of the stylist_chat module.
 *
 * The module is meant to be loaded through shared_preload_libraries, but
 * every SQL function also works when the library is loaded on first use:
 * _PG_init only installs per-backend hooks here.  Each concern lives in its
 * own file and is set up by its Init function:
 *
 *	actor.c		the acting profile, kept in backend memory, never in a GUC
 *	chat_id.c	the name-based chat id of a customer-stylist pair
 *
 * The prefix "stylist_chat" is reserved so that no placeholder setting of
 * that name can be invented with SET: such a setting would carry no meaning
 * here anyway, since identity is never read from a setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "stylist_chat.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* nothing of ours may run in a binary upgrade */
	if (IsBinaryUpgrade)
		return;

	actor_init();

	MarkGUCPrefixReserved("stylist_chat");
}
