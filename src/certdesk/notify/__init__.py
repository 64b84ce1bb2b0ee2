"""Mail transport and text: SMTP delivery (:mod:`certdesk.notify.smtp`), account mail
(:mod:`certdesk.notify.messages`) and notice templates (:mod:`certdesk.notify.rendering`).

What is sent, when, and how often it is tried again is the one mail queue's business
(:mod:`certdesk.store.mail_queue`, sent by :mod:`certdesk.services.lifecycle.notices` and
:mod:`certdesk.services.lifecycle.account_mail`); this package holds no state and imports
nothing from the services or the store.
"""
