"""What a job-end notification says: the email's subject and body, the webhook's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from adanalysis.jobs.wording import plural

SUBJECTS = {
    "completed": "Your ad analysis is ready",
    "failed": "Your ad analysis failed",
    "cancelled": "Your ad analysis was cancelled",
}


@dataclass(frozen=True)
class TopAd:
    """One of the job's best-scored analysed videos."""

    title: str
    score: int | None
    hook_type: str | None
    analysis_id: str


@dataclass(frozen=True)
class JobEnd:
    """Everything a notification of one ended job says."""

    job_id: str
    job_type: str
    status: str
    message: str
    error_message: str | None
    result_count: int
    top_ads: list[TopAd]
    link: str  # the job's page in the web app

    @property
    def subject(self) -> str:
        """The email's subject line."""
        subject = SUBJECTS.get(self.status, f"Your job {self.status}")
        if self.status == "completed":
            subject += f": {plural(self.result_count, 'video')} analysed"
        return subject

    def text(self) -> str:
        """The email's plain-text body."""
        lines = [self.subject + ".", "", self.message]
        if self.error_message:
            lines += ["", f"What went wrong: {self.error_message}"]
        if self.status != "completed" and self.result_count:
            lines += ["", f"{plural(self.result_count, 'video')} analysed before it stopped."]
        if self.top_ads:
            lines += ["", "Top ads by score:"]
            for rank, ad in enumerate(self.top_ads, 1):
                score = "no score" if ad.score is None else f"score {ad.score}/10"
                hook = f", {ad.hook_type} hook" if ad.hook_type else ""
                lines.append(f"  {rank}. {ad.title} ({score}{hook})")
        lines += ["", f"See the job: {self.link}", ""]
        return "\n".join(lines)

    def email(self, *, sender: str, to: str) -> EmailMessage:
        """The email to send."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, to, self.subject
        message.set_content(self.text())
        return message

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        return {
            "event": f"job.{self.status}",
            "job": {
                "id": self.job_id,
                "job_type": self.job_type,
                "status": self.status,
                "message": self.message,
                "error_message": self.error_message,
                "result_count": self.result_count,
                "url": self.link,
            },
            "top_ads": [
                {
                    "analysis_id": ad.analysis_id,
                    "title": ad.title,
                    "score": ad.score,
                    "hook_type": ad.hook_type,
                }
                for ad in self.top_ads
            ],
        }
