"""Data tables of the Sigma field mapping (read by fieldmap.py; see docs/sigma.md).

Sigma field names are keys in lower case: a rule's field is looked up
case-insensitively (``commandline`` and ``CommandLine`` are one field), as the SQL
and Kusto backends treat them.
"""
from __future__ import annotations

#: Windows event log rows: Sigma fields read from a System field (not EventData).
WINDOWS_SYSTEM = {
    "eventid": ("System.EventID", "EventID", "winlog.event_id", "event_id"),
    "channel": ("System.Channel", "Channel", "winlog.channel", "log_name"),
    "provider_name": ("System.Provider.Name", "SourceName", "winlog.provider_name", "source_name",
                      "EventSourceName"),
    "computer": ("System.Computer", "Hostname", "winlog.computer_name", "computer_name", "Computer"),
    "computername": ("System.Computer", "Hostname", "winlog.computer_name", "computer_name", "Computer"),
    "level": ("System.Level", "Level"),
    "version": ("System.Version",),
    "keywords": ("System.Keywords",),
}

#: Windows rows: where an export has no such raw field, the field read instead. Classic
#: event logs (Windows PowerShell 400/600/800, Application) keep unnamed ``<Data>``
#: elements, which Sigma reads as ``Data``; flattened exports (OTRF, NXLog) keep only the
#: rendered ``Message``, which holds the same text.
WINDOWS_FALLBACK = {"data": ("EventData.Data", "Message")}

#: Security 4688 rows: the Sysmon-taxonomy field → the 4688 EventData field
#: (as pySigma's windows-audit pipeline renames them).
SECURITY_4688 = {
    "image": "NewProcessName",
    "parentimage": "ParentProcessName",
    "processid": "NewProcessId",
    "parentprocessid": "ProcessId",
    "logonid": "TargetLogonId",
    "integritylevel": "MandatoryLabel",
}
#: 4688 MandatoryLabel SID → Sysmon's IntegrityLevel word
INTEGRITY_SIDS = {"S-1-16-0": "Untrusted", "S-1-16-4096": "Low", "S-1-16-8192": "Medium",
                  "S-1-16-8448": "Medium", "S-1-16-12288": "High", "S-1-16-16384": "System",
                  "S-1-16-20480": "Protected"}

#: Windows Defender Antivirus rows (the antivirus category): Sigma's antivirus taxonomy
#: → the EventData names of 1006/1015/1116/1117
DEFENDER_AV = {"signature": "Threat Name", "filename": "Path"}

#: Security 5156 (filtering platform connection) rows, onto Sysmon 3's names
SECURITY_5156 = {
    "image": "Application",
    "destinationip": "DestAddress",
    "destinationport": "DestPort",
    "sourceip": "SourceAddress",
    "sourceport": "SourcePort",
}

#: Sysmon fields that are numbers (returned as int64)
NUMERIC = {"eventid"}

#: Defender (Advanced Hunting) raw columns per Sigma field: (on ProcessCreated rows, on others).
#: The process-creation row describes the new process; every other row's actor is the
#: InitiatingProcess (the Microsoft XDR pySigma pipeline's tables say the same).
MDE_RAW = {
    "originalfilename": ("ProcessVersionInfoOriginalFileName", "InitiatingProcessVersionInfoOriginalFileName"),
    "description": ("ProcessVersionInfoFileDescription", "InitiatingProcessVersionInfoFileDescription"),
    "product": ("ProcessVersionInfoProductName", "InitiatingProcessVersionInfoProductName"),
    "company": ("ProcessVersionInfoCompanyName", "InitiatingProcessVersionInfoCompanyName"),
    "fileversion": ("ProcessVersionInfoProductVersion", "InitiatingProcessVersionInfoProductVersion"),
    "integritylevel": ("ProcessIntegrityLevel", "InitiatingProcessIntegrityLevel"),
    "logonid": ("LogonId", "InitiatingProcessLogonId"),
    "sha1": ("SHA1", "InitiatingProcessSHA1"),
    "parentuser": ("InitiatingProcessAccountName", "InitiatingProcessParentAccountName"),
    "grandparentimage": ("InitiatingProcessParentFileName", None),
    "targetimage": (None, "FolderPath"),
    "filename": (None, "FolderPath"),          # antivirus: the detected file (AntivirusDetection)
}

#: Defender fields inside the AdditionalFields JSON: Sigma field → JSON key
#: (DnsConnectionInspected; DeviceEvents NamedPipeEvent, OpenProcessApiCall)
MDE_ADDITIONAL = {"queryname": "query", "queryresults": "answers", "pipename": "PipeName",
                  "grantedaccess": "DesiredAccess", "signature": "ThreatName"}

#: CrowdStrike raw fields per Sigma field (all rows)
CROWDSTRIKE_RAW = {
    "originalfilename": ("OriginalFilename",),
    "sha1": ("SHA1HashData",),
    "integritylevel": ("IntegrityLevel",),
    "currentdirectory": ("CurrentDirectory",),
    "imagesubsystem": ("ImageSubsystem",),
    "targetimage": ("TargetImageFileName",),
}

#: ECS raw fields per Sigma field
ECS_RAW = {
    "originalfilename": ("process.pe.original_file_name",),
    "currentdirectory": ("process.working_directory",),
    "sha1": ("process.hash.sha1", "file.hash.sha1", "hash.sha1"),
    "company": ("process.pe.company",),
    "description": ("process.pe.description",),
    "product": ("process.pe.product",),
    "integritylevel": ("process.Ext.token.integrity_level_name",),
    "parentuser": ("process.parent.user.name",),
}

#: raw fields of proxy / web-server logs (W3C, Zeek, Zscaler …) per Sigma proxy field
PROXY_RAW = {
    "cs-referrer": ("cs(Referer)", "cs-referer", "cs-referrer", "referrer", "Referer"),
    "cs-referer": ("cs(Referer)", "cs-referer", "cs-referrer", "referrer", "Referer"),
    "record_type": ("qtype_name", "query_type", "QueryType"),   # dns category (Zeek dns.log …)
    "cs-cookie": ("cs(Cookie)", "cs-cookie", "cookie"),
    "cs-version": ("cs-version", "version"),
    "cs-uri-stem": ("cs-uri-stem",),
    "cs-uri-query": ("cs-uri-query",),
    "cs-uri": ("cs-uri",),
    "c-ip": ("c-ip",),
    "s-ip": ("s-ip",),
    "cs-username": ("cs-username",),
    "cs-content-type": ("cs(Content-Type)", "rs(Content-Type)", "contenttype"),
}
